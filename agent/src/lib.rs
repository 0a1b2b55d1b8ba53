//! The agent (claims runs from a work queue and starts each through a flow runner) and the
//! engine (executes one run in its own process and reports its states and logs).

pub mod agent;
mod backoff;
mod closing;
pub mod engine;
pub mod guard;
pub mod logs;
pub mod process;
pub mod python;
pub mod queue;
pub mod runner;
pub mod states;
