//! The server's integration tests: the real binary's app on a loopback port, on SQLite and PostgreSQL.

// Test helpers fail loudly on purpose: a panic with the reason is the clearest test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod access;
mod accounts;
mod architecture;
mod audit_checkpoints;
mod audit_coverage;
mod audit_trail;
mod cli;
mod clinic;
mod connections;
mod demo;
mod faults;
mod fuzz;
mod hardening;
mod http;
mod live;
mod messages;
mod notes;
mod openapi;
mod scheduling;
mod sign_in;
mod smtp;
mod tls;
mod training;
mod visits;
mod web;
mod web_admin;
mod web_board;
mod web_languages;
mod web_messages;
mod web_notes;
mod web_program;
mod web_scheduling;
mod web_training;
mod web_visit_links;
mod web_visits;
