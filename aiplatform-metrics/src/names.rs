//! Name rules shared by registration and collectors.

use std::borrow::Cow;

use crate::error::{NameError, NameKind};

fn err(kind: NameKind, name: &str, reason: &'static str) -> NameError {
    NameError {
        kind,
        name: name.to_owned(),
        reason,
    }
}

/// Checks a metric name against `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub(crate) fn check_metric_name(name: &str) -> Result<(), NameError> {
    let kind = NameKind::Metric;
    let mut bytes = name.bytes();
    match bytes.next() {
        None => return Err(err(kind, name, "empty")),
        Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':' => {}
        Some(_) => return Err(err(kind, name, "must start with a letter, '_' or ':'")),
    }
    if bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':') {
        Ok(())
    } else {
        Err(err(
            kind,
            name,
            "may only contain ASCII letters, digits, '_' and ':'",
        ))
    }
}

/// Checks a label name against `[a-zA-Z_][a-zA-Z0-9_]*` and the reserved `__` prefix.
pub(crate) fn check_label_name(name: &str) -> Result<(), NameError> {
    let kind = NameKind::Label;
    let mut bytes = name.bytes();
    match bytes.next() {
        None => return Err(err(kind, name, "empty")),
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        Some(_) => return Err(err(kind, name, "must start with a letter or '_'")),
    }
    if !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(err(
            kind,
            name,
            "may only contain ASCII letters, digits and '_'",
        ));
    }
    if name.starts_with("__") {
        return Err(err(
            kind,
            name,
            "names starting with '__' are reserved for Prometheus",
        ));
    }
    Ok(())
}

/// The unit of a metric, written as the last part of its name and in OpenMetrics' `# UNIT`.
///
/// Use base units, as Prometheus recommends: seconds rather than milliseconds, bytes rather
/// than kilobytes.
///
/// ```
/// use aiplatform_metrics::Unit;
///
/// assert_eq!(Unit::SECONDS.as_str(), "seconds");
/// assert_eq!(Unit::new("celsius").unwrap().as_str(), "celsius");
/// assert!(Unit::new("per-second").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Unit(Cow<'static, str>);

impl Unit {
    /// Time in seconds.
    pub const SECONDS: Unit = Unit(Cow::Borrowed("seconds"));
    /// Sizes in bytes.
    pub const BYTES: Unit = Unit(Cow::Borrowed("bytes"));
    /// A ratio between 0 and 1.
    pub const RATIO: Unit = Unit(Cow::Borrowed("ratio"));
    /// Temperatures in degrees Celsius.
    pub const CELSIUS: Unit = Unit(Cow::Borrowed("celsius"));
    /// Energy in joules.
    pub const JOULES: Unit = Unit(Cow::Borrowed("joules"));
    /// Distances in meters.
    pub const METERS: Unit = Unit(Cow::Borrowed("meters"));
    /// Electric potential in volts.
    pub const VOLTS: Unit = Unit(Cow::Borrowed("volts"));
    /// Current in amperes.
    pub const AMPERES: Unit = Unit(Cow::Borrowed("amperes"));

    /// A unit from `[a-zA-Z0-9_]+`.
    pub fn new(unit: impl Into<Cow<'static, str>>) -> Result<Unit, NameError> {
        let unit = unit.into();
        if unit.is_empty() {
            return Err(err(NameKind::Unit, &unit, "empty"));
        }
        if !unit.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(err(
                NameKind::Unit,
                &unit,
                "may only contain ASCII letters, digits and '_'",
            ));
        }
        Ok(Unit(unit))
    }

    /// The unit as written in the name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names() {
        for ok in ["a", "_a", ":a", "http_requests_total", "job:rate5m", "A9_:"] {
            assert_eq!(check_metric_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "9a", "a-b", "a b", "é", "a.b"] {
            let e = check_metric_name(bad).unwrap_err();
            assert_eq!(e.kind, NameKind::Metric);
            assert_eq!(e.name, bad);
        }
    }

    #[test]
    fn label_names() {
        for ok in ["a", "_a", "method", "status_code", "A9"] {
            assert_eq!(check_label_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "9a", "a:b", "a-b", "__name__", "__x", "é"] {
            assert!(check_label_name(bad).is_err(), "{bad}");
        }
        assert!(
            check_label_name("__x")
                .unwrap_err()
                .reason
                .contains("reserved")
        );
    }

    #[test]
    fn units() {
        assert!(Unit::new("").is_err());
        assert!(Unit::new("a b").is_err());
        assert_eq!(
            Unit::new(String::from("kelvin")).unwrap().to_string(),
            "kelvin"
        );
    }
}
