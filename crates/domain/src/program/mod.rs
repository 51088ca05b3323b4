//! The implementation program: phases, milestones and tasks with dependencies, the governance
//! roster, the risk register, each site's rollout stage behind its readiness gate, pilot
//! evaluations, and adoption goals measured from the appointments themselves.

mod board;
mod model;
mod rules;
pub mod service;
mod store;

pub use board::*;
pub use model::*;
pub use rules::*;
pub use store::*;
