//! The `telemed` server: command line, configuration, JSON API, web UI and background jobs.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod extract;
pub mod jobs;
pub mod metrics;
pub mod startup;
pub mod state;
pub mod web;
