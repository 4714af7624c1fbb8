//! Which redis_exporter release the output imitates.

use std::fmt;
use std::str::FromStr;

/// A compatibility profile: the metric names, types and label sets of one redis_exporter
/// release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compat {
    /// Current upstream (1.8x): `master_replid` on `redis_instance_info`, the newer INFO
    /// fields, `redis_db_keys_cached`, per-IO-thread active time, and so on.
    #[default]
    Upstream,
    /// redis_exporter 1.45.0 as packaged in Debian 12 (`prometheus-redis-exporter`).
    Debian12,
}

impl Compat {
    /// The name accepted by `--compat`.
    pub fn as_str(self) -> &'static str {
        match self {
            Compat::Upstream => "upstream",
            Compat::Debian12 => "debian12",
        }
    }

    /// Whether this is the Debian 12 (1.45.0) profile.
    pub fn is_debian12(self) -> bool {
        self == Compat::Debian12
    }
}

impl fmt::Display for Compat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown `--compat` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown compatibility profile {0:?}: use \"upstream\" or \"debian12\"")]
pub struct UnknownCompat(pub String);

impl FromStr for Compat {
    type Err = UnknownCompat;

    fn from_str(s: &str) -> Result<Compat, UnknownCompat> {
        match s {
            "upstream" | "upstream-latest" | "latest" => Ok(Compat::Upstream),
            "debian12" | "1.45" | "1.45.0" => Ok(Compat::Debian12),
            other => Err(UnknownCompat(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        assert_eq!("debian12".parse::<Compat>(), Ok(Compat::Debian12));
        assert_eq!("upstream-latest".parse::<Compat>(), Ok(Compat::Upstream));
        assert!("bookworm".parse::<Compat>().is_err());
        assert_eq!(Compat::default().to_string(), "upstream");
    }
}
