// The crate documentation is the README, so the two say the same things in the same order.
#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod app;
pub mod args;
pub mod auth_config;
pub mod cell;
pub mod collectors;
pub mod config;
pub mod dsn;
pub mod exporter;
pub mod namespace;
pub mod probe;
pub mod queries_file;
pub mod redact;
pub mod self_metrics;
pub mod target;
pub mod version;

pub use dsn::{Dsn, DsnError, Password};
pub use redact::{redact_dsn, scrub};
pub use target::{Limits, Target, TargetError};
