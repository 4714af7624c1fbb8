//! What the workspace's test suites share, so each crate's `tests/` keeps only what is
//! specific to it.
//!
//! - [`free_port`]: a 127.0.0.1 port nothing listens on;
//! - [`Process`]: a child process killed (and reaped) on drop, its output in a log file, and
//!   [`Exporter`], an exporter binary serving on a free port;
//! - [`http`]: a plain HTTP/1.1 GET, enough to scrape an exporter;
//! - [`receiver`]: an HTTP/1.1 and HTTP/2 server standing in for a push backend;
//! - [`eventually`], [`eventually_some`] and [`poll`]: waiting for a condition with a deadline;
//! - [`TempDir`]: a directory removed on drop, and [`Buf`], a writer a test reads back;
//! - [`Pki`]: a CA and the certificates it signs, as PEM;
//! - [`Scrape`]: a scrape read back with the same parser the node exporter's textfile
//!   collector uses, and looked up by name and labels;
//! - [`SnapshotLookup`]: the same lookup on a [`Snapshot`](aiplatform_metrics::Snapshot) or
//!   on collected families, for unit tests;
//! - [`postgres::Cluster`]: a throwaway PostgreSQL server (`initdb` + `pg_ctl` on a free
//!   port) a test may stop, start and replicate;
//! - [`host`]: where this machine keeps the real peers the tests run against (Debian's Go
//!   exporters, PostgreSQL's server binaries, promtool), found in one place and refused with
//!   the command that installs them when missing.
//!
//! Every helper panics with a message that says what failed: these are test assertions.

#![deny(missing_docs)]

pub mod alloc;
mod buf;
mod exporter;
pub mod host;
pub mod http;
mod net;
mod pki;
pub mod postgres;
mod process;
pub mod receiver;
pub mod scrape;
mod snapshot;
mod temp;
mod wait;

pub use buf::Buf;
pub use exporter::Exporter;
pub use net::free_port;
pub use pki::{Issued, Pki};
pub use process::{Process, rss_bytes};
pub use scrape::Scrape;
pub use snapshot::SnapshotLookup;
pub use temp::TempDir;
pub use wait::{eventually, eventually_some, poll};
