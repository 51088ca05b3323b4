//! Identity's rows: column lists, rows to records, and the rows that hang off a user.

use domain::DomainError;
use domain::identity::{Credentials, Email, Organization, Role, Site, TimeZoneName, UsState, User};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::db::{self, DbResult, Insert, R, write_error};

pub(super) const USER_COLUMNS: &str =
    "id, org_id, email, display_name, role, active, patient_id, created_at";
pub(super) const CREDENTIAL_COLUMNS: &str = "c.user_id, u.org_id, u.role, u.active, c.password_hash, c.totp_secret, \
                                  c.totp_confirmed, c.failed_attempts, c.locked_until, c.last_totp_step";

const USER_SITES: Insert = Insert {
    into: "user_sites (user_id, site_id)",
    columns: 2,
    suffix: "",
};
const LANGUAGES: Insert = Insert {
    into: "clinician_languages (user_id, language)",
    columns: 2,
    suffix: "",
};
const LICENSES: Insert = Insert {
    into: "clinician_licenses (user_id, state, number, expires_on)",
    columns: 4,
    suffix: "",
};
pub(super) const RECOVERY_CODES: Insert = Insert {
    into: "recovery_codes (user_id, code_hash)",
    columns: 2,
    suffix: "",
};

pub(super) fn org_from_row(row: &AnyRow) -> R<Organization> {
    Ok(Organization {
        id: db::parsed(row, "id")?,
        name: db::text(row, "name")?,
        created_at: db::ts(row, "created_at")?,
    })
}

pub(super) fn site_from_row(row: &AnyRow) -> R<Site> {
    Ok(Site {
        id: db::parsed(row, "id")?,
        org_id: db::parsed(row, "org_id")?,
        name: db::text(row, "name")?,
        state: db::domain_value(row, "state", UsState::parse)?,
        time_zone: db::domain_value(row, "time_zone", TimeZoneName::parse)?,
        created_at: db::ts(row, "created_at")?,
    })
}

/// A user row without sites and clinician profile, which live in their own tables.
pub(crate) fn user_from_row(row: &AnyRow) -> R<User> {
    Ok(User {
        id: db::parsed(row, "id")?,
        org_id: db::parsed(row, "org_id")?,
        email: db::domain_value(row, "email", Email::parse)?,
        display_name: db::text(row, "display_name")?,
        role: db::domain_value(row, "role", Role::parse)?,
        site_ids: Vec::new(),
        patient_id: db::opt_parsed(row, "patient_id")?,
        clinician: None,
        active: db::flag(row, "active")?,
        created_at: db::ts(row, "created_at")?,
    })
}

pub(super) fn credentials_from_row(row: &AnyRow) -> R<Credentials> {
    Ok(Credentials {
        user_id: db::parsed(row, "user_id")?,
        org_id: db::parsed(row, "org_id")?,
        role: db::domain_value(row, "role", Role::parse)?,
        active: db::flag(row, "active")?,
        password_hash: db::text(row, "password_hash")?,
        totp_secret: db::opt_text(row, "totp_secret")?,
        totp_confirmed: db::flag(row, "totp_confirmed")?,
        failed_attempts: db::int(row, "failed_attempts")?,
        locked_until: db::opt_ts(row, "locked_until")?,
        last_totp_step: db::opt_int(row, "last_totp_step")?,
    })
}

pub(super) fn email_conflict(email: &Email) -> impl FnOnce(&str) -> DomainError {
    let email = email.to_string();
    move |described| {
        if described.contains("email") {
            DomainError::conflict_on("email", format!("{email} is already registered"))
        } else {
            DomainError::conflict_on("id", "this user already exists")
        }
    }
}

/// Writes the rows that hang off a user: sites, clinician profile, licenses (replacing old ones).
pub(super) async fn write_user_details(conn: &mut AnyConnection, user: &User) -> R<()> {
    let id = user.id.to_string();
    for table in [
        "user_sites",
        "clinician_licenses",
        "clinician_languages",
        "clinician_profiles",
    ] {
        let sql = AssertSqlSafe(format!("DELETE FROM {table} WHERE user_id = $1"));
        sqlx::query(sql)
            .bind(id.clone())
            .execute(&mut *conn)
            .await
            .db()?;
    }
    db::insert_rows(conn, &USER_SITES, &user.site_ids, |q, site| {
        q.bind(id.clone()).bind(site.to_string())
    })
    .await
    .map_err(|e| {
        write_error(e, |_| {
            DomainError::conflict_on("site_ids", "a site is listed twice")
        })
    })?;
    if let Some(profile) = &user.clinician {
        let specialties = serde_json::to_string(&profile.specialties)
            .map_err(|e| DomainError::Storage(format!("specialties could not be encoded: {e}")))?;
        sqlx::query(
            "INSERT INTO clinician_profiles (user_id, npi, specialties) VALUES ($1, $2, $3)",
        )
        .bind(id.clone())
        .bind(profile.npi.clone())
        .bind(specialties)
        .execute(&mut *conn)
        .await
        .db()?;
        db::insert_rows(conn, &LANGUAGES, &profile.languages, |q, language| {
            q.bind(id.clone()).bind(language.as_str())
        })
        .await
        .map_err(|e| {
            write_error(e, |_| {
                DomainError::conflict_on("languages", "a language is listed twice")
            })
        })?;
        db::insert_rows(conn, &LICENSES, &profile.licenses, |q, license| {
            q.bind(id.clone())
                .bind(license.state.code())
                .bind(license.number.as_str())
                .bind(license.expires_on.to_string())
        })
        .await
        .map_err(|e| {
            write_error(e, |_| {
                DomainError::conflict_on("licenses", "the same license is listed twice")
            })
        })?;
    }
    Ok(())
}
