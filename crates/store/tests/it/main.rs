//! The store's contract tests: every behaviour on SQLite, and on PostgreSQL when `TELEMED_TEST_POSTGRES_URL` is set.

// A test should stop at the first surprise; the workspace's no-unwrap rule is for production code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod accounts;
mod audit;
mod break_glass;
mod connect;
mod identity;
mod messaging;
mod notes;
mod patients;
mod program;
mod scheduling;
mod schema;
mod sessions;
mod training;
mod visit_links;
mod visits;
