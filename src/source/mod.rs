//! Where photos come from. Each source turns its own events into [`crate::job::Job`]s.

pub mod args;
pub mod watch;
