//! node_exporter's device filter: an exclude and an include regular expression, matched
//! anywhere in the name (Go's `MatchString`).

use std::collections::HashMap;

use parking_lot::Mutex;
use regex::{Regex, RegexBuilder};

use crate::error::ConfigError;

/// Compiles a pattern with a small lazy-DFA cache. The default (2 MiB per thread that ever
/// matched) made node_exporter's netstat pattern the largest resident allocation of the
/// process; names are matched once each anyway ([`NameFilter`]), so speed does not suffer.
pub fn compile(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern).dfa_size_limit(64 * 1024).build()
}

/// A pattern applied to a set of names that rarely changes (vmstat and netstat fields): each
/// name is matched once and the answer remembered.
#[derive(Debug)]
pub struct NameFilter {
    re: Regex,
    seen: Mutex<HashMap<Box<str>, bool>>,
}

impl NameFilter {
    /// A filter keeping the names `re` matches.
    pub fn new(re: Regex) -> NameFilter {
        NameFilter {
            re,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `name` matches.
    pub fn is_match(&self, name: &str) -> bool {
        let mut seen = self.seen.lock();
        if let Some(&hit) = seen.get(name) {
            return hit;
        }
        let hit = self.re.is_match(name);
        // Bounded, in case a file ever grows names without end.
        if seen.len() < 4096 {
            seen.insert(name.into(), hit);
        }
        hit
    }
}

/// Decides which devices (network interfaces, disks, mount points, ...) are reported.
///
/// ```
/// use aiplatform_node_exporter::filter::DeviceFilter;
///
/// let f = DeviceFilter::new(Some("^lo$"), None).unwrap();
/// assert!(f.ignored("lo") && !f.ignored("eth0"));
/// let f = DeviceFilter::new(None, Some("^eth")).unwrap();
/// assert!(f.ignored("lo") && !f.ignored("eth0"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct DeviceFilter {
    exclude: Option<Regex>,
    include: Option<Regex>,
}

impl DeviceFilter {
    /// A filter from the two patterns (an empty pattern is no pattern).
    pub fn new(exclude: Option<&str>, include: Option<&str>) -> Result<DeviceFilter, regex::Error> {
        let compile = |p: Option<&str>| p.filter(|p| !p.is_empty()).map(compile).transpose();
        Ok(DeviceFilter {
            exclude: compile(exclude)?,
            include: compile(include)?,
        })
    }

    /// Whether `name` is left out.
    pub fn ignored(&self, name: &str) -> bool {
        self.exclude.as_ref().is_some_and(|r| r.is_match(name))
            || self.include.as_ref().is_some_and(|r| !r.is_match(name))
    }
}

/// Compiles a regex flag value, naming the flag in the error.
pub(crate) fn regex_flag(flag: &'static str, pattern: &str) -> Result<Regex, ConfigError> {
    compile(pattern).map_err(|e| ConfigError::Regex {
        flag,
        source: Box::new(e),
    })
}

/// A device filter from flag values, naming the exclude flag in the error.
pub(crate) fn device_filter(
    flag: &'static str,
    exclude: Option<&str>,
    include: Option<&str>,
) -> Result<DeviceFilter, ConfigError> {
    DeviceFilter::new(exclude, include).map_err(|e| ConfigError::Regex {
        flag,
        source: Box::new(e),
    })
}
