//! Where photos come from: command-line paths ([`args`]), folder watches ([`watch`]) and
//! document cameras ([`camera`]). Watches and cameras report [`watch::SourceEvent`]s on one
//! bounded channel.

pub mod args;
pub mod camera;
pub mod walk;
pub mod watch;
