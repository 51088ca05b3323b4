//! The `telemed` server: command line, configuration, JSON API, web UI and background jobs.

/// Prints a line to stdout, ignoring a closed pipe (`telemed demo --no-serve | head` must not panic).
macro_rules! say {
    () => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout());
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod api;
pub mod auth;
pub mod checkpoints;
pub mod cli;
pub mod config;
pub mod connections;
pub mod demo;
pub mod demo_link;
pub mod demo_notes;
pub mod demo_now;
pub mod demo_program;
pub mod demo_schedule;
pub mod demo_training;
pub mod error;
pub mod extract;
pub mod ics;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod notices;
pub mod refreshers;
pub mod reminders;
pub mod signaling;
pub mod startup;
pub mod state;
pub mod web;
