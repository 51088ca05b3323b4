//! Telemed's storage: one SQL implementation of `domain::Store` over SQLite and PostgreSQL.
//!
//! `connect(url)` picks the engine from the URL scheme, applies the embedded migrations and
//! returns the store behind `Arc<dyn domain::Store>`. Both engines share the same SQL through
//! sqlx's `Any` driver; the few dialect differences are chosen by [`Backend`].

mod audit;
mod break_glass;
mod cache;
mod care_team;
mod connect;
mod db;
mod identity;
mod messaging;
mod migrations;
mod notes;
mod patients;
mod port;
mod program;
pub mod relay;
mod scheduling;
mod sealing;
mod sessions;
pub mod testing;
mod training;
mod visits;

pub use connect::{Backend, ConnectError, ConnectOptions, connect, connect_with, rotate_data_keys};
pub use migrations::migration_file_names;
pub use sealing::{Rotation, default_data_key_path};
