//! Scheduling use cases: visit types, availability and slots, booking and the appointment's life,
//! telehealth consent, the on-demand queue, calendar feeds, and the jobs that run on a clock.

pub mod appointments;
pub mod availability;
pub mod booking;
pub mod calendar;
pub mod consent;
pub mod directory;
pub mod jobs;
pub mod queue;
pub mod shared;
pub mod visit_types;
