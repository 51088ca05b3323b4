//! Telemed's storage: one SQL implementation of `domain::Store` over SQLite and PostgreSQL.
//!
//! `connect(url)` picks the engine from the URL scheme, applies the embedded migrations and
//! returns the store behind `Arc<dyn domain::Store>`. Both engines share the same SQL through
//! sqlx's `Any` driver; the few dialect differences are chosen by [`Backend`].
//!
//! Three layers, each using only those below it:
//! 1. statements: `db` (rows, bound values, filters, `insert_rows`), `audit_chain` (the chain's
//!    append), `visit_log`;
//! 2. the group-commit `writer`, which runs the write jobs areas hand it and knows no area;
//! 3. `sql_store` (the handle and its `audited` transactions), then one file or folder per
//!    area port: `identity`, `patients`, `sessions`, `accounts`, `audit`, `compliance`, `scheduling/`,
//!    `visits`, `visit_links`, `training`, `program`.
//!
//! Beside them: `backend`, `connect` (and `connect_error`), `migrations`, `cache`, `relay`,
//! `testing`.

mod accounts;
mod audit;
mod audit_chain;
mod backend;
mod cache;
mod care_team;
mod compliance;
mod connect;
mod connect_error;
mod db;
mod identity;
mod messaging;
mod migrations;
mod notes;
mod patients;
mod program;
pub mod relay;
mod scheduling;
mod sealing;
mod sessions;
mod sql_store;
pub mod testing;
mod training;
mod visit_chat;
mod visit_links;
mod visit_log;
mod visits;
mod writer;

pub use backend::Backend;
pub use connect::{ConnectOptions, connect, connect_with, rotate_data_keys};
pub use connect_error::ConnectError;
pub use migrations::migration_file_names;
pub use sealing::{Rotation, default_data_key_path};
