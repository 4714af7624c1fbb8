//! New Relic's data centers and their ingest endpoints.

use std::fmt;
use std::str::FromStr;

/// Where an account's data lives. An account is in exactly one; a key sent to another
/// region's endpoint is refused (403).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Region {
    /// The United States data center (the default).
    #[default]
    Us,
    /// The European Union data center.
    Eu,
    /// New Relic's FedRAMP Moderate environment (approved US government accounts only).
    FedRamp,
}

impl Region {
    /// The Metric API endpoint.
    pub fn metric_url(self) -> &'static str {
        match self {
            Region::Us => "https://metric-api.newrelic.com/metric/v1",
            Region::Eu => "https://metric-api.eu.newrelic.com/metric/v1",
            Region::FedRamp => "https://gov-metric-api.newrelic.com/metric/v1",
        }
    }

    /// The Log API endpoint.
    pub fn log_url(self) -> &'static str {
        match self {
            Region::Us => "https://log-api.newrelic.com/log/v1",
            Region::Eu => "https://log-api.eu.newrelic.com/log/v1",
            Region::FedRamp => "https://gov-log-api.newrelic.com/log/v1",
        }
    }

    /// The region a license key belongs to, when it says so: keys of accounts outside the US
    /// start with their region and `x` (`eu01xx...`), which New Relic's agents read to pick
    /// their endpoints. `None` for keys without a prefix (US accounts).
    pub fn of_license_key(key: &str) -> Option<Region> {
        let b = key.as_bytes();
        let letters = b.iter().take_while(|c| c.is_ascii_lowercase()).count();
        let digits = b[letters..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        let prefixed =
            (2..=3).contains(&letters) && digits == 2 && b.get(letters + digits) == Some(&b'x');
        if !prefixed {
            return None;
        }
        match &key[..letters] {
            "eu" => Some(Region::Eu),
            "gov" => Some(Region::FedRamp),
            _ => None,
        }
    }

    /// The region an agent's `NEW_RELIC_HOST` (its collector host) points at:
    /// `collector.eu01.nr-data.net` is the EU, `gov-collector.newrelic.com` FedRAMP, any other
    /// host the US.
    pub fn of_collector_host(host: &str) -> Region {
        let host = host.trim().to_ascii_lowercase();
        let host = host
            .split_once("://")
            .map_or(host.as_str(), |(_, rest)| rest);
        if host.starts_with("gov-") || host.starts_with("gov.") {
            Region::FedRamp
        } else if host.contains(".eu01.") || host.contains(".eu.") {
            Region::Eu
        } else {
            Region::Us
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Region::Us => "us",
            Region::Eu => "eu",
            Region::FedRamp => "fedramp",
        })
    }
}

impl FromStr for Region {
    type Err = String;

    /// `us`, `eu` or `fedramp` (also `gov`), in any case: the values of `NEW_RELIC_REGION`.
    fn from_str(s: &str) -> Result<Region, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "us" | "us01" => Ok(Region::Us),
            "eu" | "eu01" => Ok(Region::Eu),
            "fedramp" | "gov" => Ok(Region::FedRamp),
            other => Err(format!(
                "unknown New Relic region {other:?} (expected us, eu or fedramp)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn license_key_prefixes() {
        assert_eq!(
            Region::of_license_key("eu01xx6789012345678901234567890123456789"),
            Some(Region::Eu)
        );
        assert_eq!(
            Region::of_license_key("gov01x6789012345678901234567890123456789"),
            Some(Region::FedRamp)
        );
        assert_eq!(
            Region::of_license_key("0123456789012345678901234567890123456789"),
            None
        );
        assert_eq!(
            Region::of_license_key("abcdef0123456789abcdef0123456789abcdNRAL"),
            None
        );
        assert_eq!(Region::of_license_key("eu"), None);
    }

    #[test]
    fn collector_hosts_and_names() {
        assert_eq!(
            Region::of_collector_host("collector.eu01.nr-data.net"),
            Region::Eu
        );
        assert_eq!(
            Region::of_collector_host("gov-collector.newrelic.com"),
            Region::FedRamp
        );
        assert_eq!(
            Region::of_collector_host("collector.newrelic.com"),
            Region::Us
        );
        assert_eq!(
            Region::of_collector_host("https://metric-api.eu.newrelic.com"),
            Region::Eu
        );
        assert_eq!("EU".parse::<Region>(), Ok(Region::Eu));
        assert_eq!("FedRAMP".parse::<Region>(), Ok(Region::FedRamp));
        assert!("mars".parse::<Region>().is_err());
        for r in [Region::Us, Region::Eu, Region::FedRamp] {
            assert_eq!(r.to_string().parse::<Region>(), Ok(r));
            assert!(r.metric_url().ends_with("/metric/v1"));
            assert!(r.log_url().ends_with("/log/v1"));
        }
    }
}
