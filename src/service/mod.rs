//! The jobs service: what runs the queued fetches and keeps them moving. The fetch workers
//! ([`run_workers`]: claim, fetch through the connector's stack, store the result or record why
//! not), the scheduler of periodic syncs ([`run_scheduler`]), and the sweeps that take back jobs
//! lost with their worker and prune what is past retention ([`prune`]).
//!
//! It sits over [`crate::app`], whose enqueue, store and stacks it uses, and hands the queue
//! ([`crate::queue`], the apalis adapter) the [`Runner`](crate::queue::Runner) its lanes call.

mod scheduler;
mod worker;

pub use scheduler::run_scheduler;
pub use worker::{prune, run_workers};
