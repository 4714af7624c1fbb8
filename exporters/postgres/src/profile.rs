//! Which postgres_exporter's names to follow.

use std::str::FromStr;

use thiserror::Error;

/// The name set: current upstream (default) or Debian 12's postgres_exporter 0.11.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// Current upstream (0.20): collector names and label sets, no `server` label except on
    /// `pg_static` and `pg_stat_database_conflicts_*`.
    #[default]
    Upstream,
    /// postgres_exporter 0.11.1 as Debian 12 ships it: `server` label on every PostgreSQL
    /// series, 0.11 names (`pg_replication_lag`, `pg_statio_user_tables_*_blks_*`),
    /// `pg_settings_*` HELP from `short_desc`, `SELECT *` views with untyped extra columns.
    Debian12,
}

/// An unknown `--compat` value.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("unknown compatibility profile {0:?}: use upstream or debian12")]
pub struct UnknownProfile(pub String);

impl FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Profile, UnknownProfile> {
        match s {
            "upstream" | "upstream-latest" | "latest" => Ok(Profile::Upstream),
            "debian12" | "0.11" | "0.11.1" => Ok(Profile::Debian12),
            other => Err(UnknownProfile(other.to_owned())),
        }
    }
}

impl Profile {
    /// Whether this is the Debian 12 (0.11.1) profile.
    pub fn is_debian12(self) -> bool {
        self == Profile::Debian12
    }
}
