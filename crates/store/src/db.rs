//! The statements layer: row decoding, bound values, filters, the one multi-row INSERT helper, and
//! the mapping from database errors to domain errors. Knows no area and no transaction policy.

use std::str::FromStr;

use domain::DomainError;
use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::any::AnyRow;
use sqlx::error::ErrorKind;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

pub(crate) type R<T> = Result<T, DomainError>;

/// Logs a database failure (never with patient data: sqlx errors carry no bound values) and
/// hides its detail behind a stable message. A database that cannot take the request now (see
/// [`unavailable`]) is `Unavailable` (503), anything else `Storage` (500).
pub(crate) fn storage(err: sqlx::Error) -> DomainError {
    if let Some(why) = unavailable(&err) {
        tracing::error!(error = %err, why, "database unavailable");
        return DomainError::Unavailable(why.into());
    }
    tracing::error!(error = %err, "database operation failed");
    DomainError::Storage("the database operation failed".into())
}

/// Why the database cannot take a request right now, when that is what `err` says: its disk is
/// full, it is read-only, its files cannot be written or opened, it is locked past the busy
/// timeout (SQLite); it is shutting down, starting, out of room or unreachable (PostgreSQL); or
/// no connection could be had at all.
pub(crate) fn unavailable(err: &sqlx::Error) -> Option<&'static str> {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Some("the database cannot be reached"),
        sqlx::Error::Database(db) => {
            let code = db.code()?;
            if let Ok(sqlite) = code.parse::<i32>() {
                // SQLite's extended codes keep the primary code in their low byte.
                return match sqlite & 0xff {
                    13 => Some("the database's disk is full"),
                    8 => Some("the database is read-only"),
                    10 => Some("the database's files cannot be written"),
                    14 => Some("the database's files cannot be opened"),
                    5 | 6 => Some("the database is locked"),
                    _ => None,
                };
            }
            match code.as_ref() {
                "53100" => Some("the database's disk is full"),
                "25006" => Some("the database is read-only"),
                "57P01" | "57P02" | "57P03" => Some("the database is shutting down or starting"),
                "53000" | "53200" | "53300" | "58030" => Some("the database is out of resources"),
                c if c.starts_with("08") => Some("the database connection failed"),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Maps a failed write: a unique violation becomes the `Conflict` that `conflict` makes of the
/// violated constraint (its name on PostgreSQL, its columns on SQLite).
pub(crate) fn write_error(
    err: sqlx::Error,
    conflict: impl FnOnce(&str) -> DomainError,
) -> DomainError {
    if let sqlx::Error::Database(db) = &err {
        match db.kind() {
            ErrorKind::UniqueViolation => {
                let described = format!("{} {}", db.constraint().unwrap_or_default(), db.message());
                return conflict(&described);
            }
            ErrorKind::ForeignKeyViolation => {
                tracing::info!(error = %db.message(), "write refused: foreign key");
                return DomainError::invalid("reference", "refers to a record that does not exist");
            }
            _ => {}
        }
    }
    storage(err)
}

/// Runs `work` on a connection of the writer pool. When it ends in a database failure, the
/// connection is closed instead of going back to the pool, and the next write opens a new one.
///
/// Why: when a COMMIT fails (SQLite on a full disk), SQLite has rolled the transaction back but
/// sqlx still counts it open, and its ROLLBACK then fails too. The connection's next BEGIN becomes
/// a SAVEPOINT inside a transaction that never ends, and every later commit merely releases it:
/// the writes are confirmed, seen by that connection alone, and lost when it closes (measured: all
/// 2,733 bookings confirmed after a full disk, until the server stopped). A new connection carries
/// no such state.
pub(crate) async fn on_writer<T>(
    pool: &sqlx::AnyPool,
    work: impl AsyncFnOnce(&mut AnyConnection) -> R<T>,
) -> R<T> {
    let mut conn = pool.acquire().await.map_err(storage)?;
    let result = work(&mut conn).await;
    if matches!(
        result,
        Err(DomainError::Storage(_) | DomainError::Unavailable(_))
    ) {
        tracing::warn!("closing the database writer connection after a failed transaction");
        conn.close_on_drop();
    }
    result
}

/// Extension to shorten `.map_err(storage)`.
pub(crate) trait DbResult<T> {
    fn db(self) -> R<T>;
}

impl<T> DbResult<T> for Result<T, sqlx::Error> {
    fn db(self) -> R<T> {
        self.map_err(storage)
    }
}

fn decode_error(column: &str, err: impl std::fmt::Display) -> DomainError {
    tracing::error!(column, error = %err, "stored value could not be decoded");
    DomainError::Storage(format!("stored value in column {column} could not be read"))
}

pub(crate) fn text(row: &AnyRow, col: &str) -> R<String> {
    row.try_get::<String, _>(col)
        .map_err(|e| decode_error(col, e))
}

pub(crate) fn opt_text(row: &AnyRow, col: &str) -> R<Option<String>> {
    row.try_get::<Option<String>, _>(col)
        .map_err(|e| decode_error(col, e))
}

pub(crate) fn int(row: &AnyRow, col: &str) -> R<i64> {
    row.try_get::<i64, _>(col).map_err(|e| decode_error(col, e))
}

pub(crate) fn opt_int(row: &AnyRow, col: &str) -> R<Option<i64>> {
    row.try_get::<Option<i64>, _>(col)
        .map_err(|e| decode_error(col, e))
}

/// Booleans are BOOLEAN on PostgreSQL but integers on SQLite (see the SQLite migration).
pub(crate) fn flag(row: &AnyRow, col: &str) -> R<bool> {
    match row.try_get::<i64, _>(col) {
        Ok(v) => Ok(v != 0),
        Err(_) => row
            .try_get::<bool, _>(col)
            .map_err(|e| decode_error(col, e)),
    }
}

pub(crate) fn ts(row: &AnyRow, col: &str) -> R<Timestamp> {
    Timestamp::from_microsecond(int(row, col)?).map_err(|e| decode_error(col, e))
}

pub(crate) fn opt_ts(row: &AnyRow, col: &str) -> R<Option<Timestamp>> {
    opt_int(row, col)?
        .map(|v| Timestamp::from_microsecond(v).map_err(|e| decode_error(col, e)))
        .transpose()
}

/// Any value stored as text and parsed back: ids, dates.
pub(crate) fn parsed<T>(row: &AnyRow, col: &str) -> R<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    text(row, col)?
        .parse::<T>()
        .map_err(|e| decode_error(col, e))
}

pub(crate) fn opt_parsed<T>(row: &AnyRow, col: &str) -> R<Option<T>>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    opt_text(row, col)?
        .map(|v| v.parse::<T>().map_err(|e| decode_error(col, e)))
        .transpose()
}

pub(crate) fn date(row: &AnyRow, col: &str) -> R<Date> {
    parsed::<Date>(row, col)
}

/// A value stored as JSON text (lists and small documents read whole with their row).
pub(crate) fn json<T: serde::Serialize>(value: &T) -> R<String> {
    serde_json::to_string(value).map_err(|e| DomainError::Storage(format!("cannot encode: {e}")))
}

/// A JSON text column read back.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(row: &AnyRow, col: &str) -> R<T> {
    serde_json::from_str(&text(row, col)?).map_err(|e| decode_error(col, e))
}

/// Domain values with their own `parse(field, raw)` (roles, states, emails...).
pub(crate) fn domain_value<T>(row: &AnyRow, col: &str, parse: fn(&str, &str) -> R<T>) -> R<T> {
    let raw = text(row, col)?;
    parse(col, &raw).map_err(|e| decode_error(col, e))
}

/// `$from, $from+1, ...` for an `IN (...)` list of `count` bound values.
pub(crate) fn placeholders(from: usize, count: usize) -> String {
    (from..from + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value bound to a dynamically built query: filters add text, integers or flags in any order.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
    Flag(bool),
    /// A NULL in a text column.
    Null,
}

/// Binds `args` in order (`$1`, `$2`, ...).
pub(crate) fn bind_args(mut query: Query<'_>, args: Vec<Arg>) -> Query<'_> {
    for arg in args {
        query = match arg {
            Arg::Text(v) => query.bind(v),
            Arg::Int(v) => query.bind(v),
            Arg::Flag(v) => query.bind(v),
            Arg::Null => query.bind(None::<String>),
        };
    }
    query
}

/// Collects `WHERE` conditions whose `?` becomes the next placeholder, with their values.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    pub conditions: Vec<String>,
    pub args: Vec<Arg>,
}

impl Filter {
    /// Adds a condition with one `?` for `arg`.
    pub fn push(&mut self, sql: &str, arg: Arg) {
        self.args.push(arg);
        let n = self.args.len();
        self.conditions.push(sql.replace('?', &format!("${n}")));
    }

    /// Adds a condition without a value.
    pub fn raw(&mut self, sql: &str) {
        self.conditions.push(sql.to_string());
    }

    /// `col IN ($a, $b, ...)` for text values.
    pub fn any_of(&mut self, column: &str, values: Vec<String>) {
        let first = self.args.len() + 1;
        let count = values.len();
        self.args.extend(values.into_iter().map(Arg::Text));
        self.conditions
            .push(format!("{column} IN ({})", placeholders(first, count)));
    }

    /// The next placeholder number (for LIMIT and OFFSET after the conditions).
    pub fn next(&self) -> usize {
        self.args.len() + 1
    }

    pub fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.conditions.join(" AND "))
        }
    }
}

/// True for a unique-constraint violation, whatever the engine calls it.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation)
}

pub(crate) fn opt_date(row: &AnyRow, col: &str) -> R<Option<Date>> {
    opt_parsed::<Date>(row, col)
}

pub(crate) fn float(row: &AnyRow, col: &str) -> R<Option<f64>> {
    row.try_get::<Option<f64>, _>(col)
        .map_err(|e| decode_error(col, e))
}

/// Splits rows for multi-row INSERTs into slices of 10, then 3, then 1 rows.
///
/// Why these sizes: binding costs grow with the square of a statement's parameters on SQLite
/// (sqlx looks up each parameter's name, and SQLite finds a name by walking the list of them), so
/// an INSERT of 50 audit rows (800 parameters) spent more time binding than writing; ten rows per
/// statement is the measured sweet spot between that and one round trip per row. And only a few
/// distinct statement texts keep the connection's statement cache (100 entries) hot.
fn fixed_chunks<T>(rows: &[T]) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let mut rest = rows;
    for size in [10, 3, 1] {
        while rest.len() >= size {
            let (chunk, tail) = rest.split_at(size);
            chunks.push(chunk);
            rest = tail;
        }
    }
    chunks
}

/// A query on either engine, as built by `sqlx::query`.
pub(crate) type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// What a multi-row INSERT writes: `INSERT INTO {into} VALUES (..), (..) {suffix}`.
pub(crate) struct Insert {
    /// The table with its column list: `"appointment_events (id, appointment_id, ...)"`.
    pub into: &'static str,
    /// How many columns `into` lists (each row binds that many values).
    pub columns: usize,
    /// What follows the rows, such as `ON CONFLICT (...) DO NOTHING`; usually empty.
    pub suffix: &'static str,
}

/// Inserts `rows` with as few statements as stay fast (see `fixed_chunks`), binding each row's
/// values with `bind` in `insert.into`'s column order; returns how many rows were inserted (rows
/// skipped by an `ON CONFLICT DO NOTHING` suffix are not counted). The one multi-row INSERT:
/// every area writes its lists through it.
pub(crate) async fn insert_rows<'q, T>(
    conn: &mut AnyConnection,
    insert: &Insert,
    rows: &'q [T],
    bind: impl Fn(Query<'q>, &'q T) -> Query<'q>,
) -> Result<u64, sqlx::Error> {
    let mut inserted = 0;
    for chunk in fixed_chunks(rows) {
        let values = (0..chunk.len())
            .map(|r| format!("({})", placeholders(r * insert.columns + 1, insert.columns)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO {} VALUES {values} {}",
            insert.into, insert.suffix
        );
        let query = chunk
            .iter()
            .fold(sqlx::query(AssertSqlSafe(sql)), |query, row| {
                bind(query, row)
            });
        inserted += query.execute(&mut *conn).await?.rows_affected();
    }
    Ok(inserted)
}

/// Binds a row of [`Arg`]s by reference (rows collected before they are written).
pub(crate) fn bind_arg_row<'q>(query: Query<'q>, row: &'q [Arg]) -> Query<'q> {
    row.iter().fold(query, |query, arg| match arg {
        Arg::Text(v) => query.bind(v.as_str()),
        Arg::Int(v) => query.bind(*v),
        Arg::Flag(v) => query.bind(*v),
        Arg::Null => query.bind(None::<String>),
    })
}

/// The actor of an audit entry, an appointment event or a visit's log (`actor_kind`, `actor_id`,
/// `actor_role` columns).
pub(crate) fn actor(row: &AnyRow) -> R<domain::compliance::AuditActor> {
    use domain::compliance::AuditActor;
    Ok(match text(row, "actor_kind")?.as_str() {
        "user" => AuditActor::User {
            id: parsed(row, "actor_id")?,
            role: domain_value(row, "actor_role", domain::identity::Role::parse)?,
        },
        "client" => AuditActor::Client {
            id: parsed(row, "actor_id")?,
        },
        "operator" => AuditActor::Operator,
        "anonymous" => AuditActor::Anonymous,
        "guest" => AuditActor::Guest {
            invite: parsed(row, "actor_id")?,
        },
        "visit_link" => AuditActor::VisitLink {
            link: parsed(row, "actor_id")?,
        },
        other => {
            return Err(DomainError::Storage(format!(
                "stored actor_kind '{other}' is unreadable"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::fixed_chunks;

    #[test]
    fn rows_are_split_into_three_statement_sizes() {
        let rows: Vec<u32> = (0..123).collect();
        let sizes: Vec<usize> = fixed_chunks(&rows).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3]);
        let flat: Vec<u32> = fixed_chunks(&rows).concat();
        assert_eq!(flat, rows);
        assert!(fixed_chunks::<u32>(&[]).is_empty());
    }
}
