//! `--compat`: which release of the Go exporter a binary reproduces.

use std::fmt;
use std::str::FromStr;

use clap::ValueEnum;
use thiserror::Error;

/// The Go exporter release whose metric names, types, label sets, HELP and flag defaults an
/// exporter binary reproduces. Each exporter documents what differs between the two.
///
/// ```
/// use aiplatform_prometheus::Compat;
///
/// let compat: Compat = "debian12".parse().unwrap();
/// assert!(compat.is_debian12());
/// assert_eq!(Compat::default().to_string(), "upstream");
/// assert_eq!(
///     "bookworm".parse::<Compat>().unwrap_err().to_string(),
///     r#"unknown compatibility profile "bookworm": use upstream or debian12"#
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Compat {
    /// The current upstream release.
    #[default]
    Upstream,
    /// The release Debian 12 (bookworm) packages: node_exporter 1.5.0,
    /// postgres_exporter 0.11.1, redis_exporter 1.45.0.
    Debian12,
}

impl Compat {
    /// The name `--compat` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Compat::Upstream => "upstream",
            Compat::Debian12 => "debian12",
        }
    }

    /// Whether this is the Debian 12 profile.
    pub fn is_debian12(self) -> bool {
        self == Compat::Debian12
    }
}

impl fmt::Display for Compat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `--compat` value that names no profile.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("unknown compatibility profile {0:?}: use upstream or debian12")]
pub struct UnknownCompat(pub String);

impl FromStr for Compat {
    type Err = UnknownCompat;

    fn from_str(s: &str) -> Result<Compat, UnknownCompat> {
        match s {
            "upstream" => Ok(Compat::Upstream),
            "debian12" => Ok(Compat::Debian12),
            other => Err(UnknownCompat(other.to_owned())),
        }
    }
}
