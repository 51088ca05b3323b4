//! The server's integration tests: the real binary's app on a loopback port, on SQLite and PostgreSQL.

mod helpers;

mod access;
mod architecture;
mod audit_trail;
mod cli;
mod http;
mod sign_in;
mod tls;
mod web;
