//! Virtual visits: check-in, the waiting room, the call and its record, guests, patients' join
//! links, emergencies.
//!
//! A visit opens when a virtual appointment is checked in and follows its own state machine
//! (`state.rs`); the appointment moves along with it (the call starts the appointment, ending the
//! call completes it).

pub mod care_team;
pub mod chat;
pub mod model;
pub mod questionnaire;
pub mod service;
pub mod state;
pub mod store;
pub mod view;
pub mod visit_link;

pub use care_team::*;
pub use chat::{ChatLine, VisitChatStore};
pub use model::*;
pub use questionnaire::*;
pub use state::*;
pub use store::*;
pub use view::*;
pub use visit_link::VisitLink;
