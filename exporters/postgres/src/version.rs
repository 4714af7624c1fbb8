//! The server's version, from `server_version_num`.

use std::fmt;

/// A PostgreSQL version: major and minor for 10 and later, `9.6.x` style before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerVersion {
    /// Major version (`15`, or `9` for 9.6).
    pub major: u32,
    /// Minor (`20` for 15.20; `6` for 9.6.24).
    pub minor: u32,
    /// Patch (`0` for 10 and later; `24` for 9.6.24).
    pub patch: u32,
}

impl ServerVersion {
    /// From `server_version_num` (`150020` is 15.20, `90624` is 9.6.24).
    pub fn from_num(num: i32) -> ServerVersion {
        let n = num.max(0) as u32;
        if n >= 100_000 {
            ServerVersion {
                major: n / 10_000,
                minor: n % 10_000,
                patch: 0,
            }
        } else {
            ServerVersion {
                major: n / 10_000,
                minor: n / 100 % 100,
                patch: n % 100,
            }
        }
    }

    /// Whether this is at least `major.minor`.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

/// The semantic version postgres_exporter puts in `pg_static{short_version}` (`15.20.0`).
impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_both_schemes() {
        assert_eq!(ServerVersion::from_num(150020).to_string(), "15.20.0");
        assert_eq!(ServerVersion::from_num(170002).to_string(), "17.2.0");
        assert_eq!(ServerVersion::from_num(90624).to_string(), "9.6.24");
        assert!(ServerVersion::from_num(150020).at_least(13, 0));
        assert!(!ServerVersion::from_num(90624).at_least(10, 0));
    }
}
