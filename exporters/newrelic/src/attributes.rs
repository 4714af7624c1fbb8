//! New Relic's rules for attribute names and values, shared by metrics and logs.

use std::borrow::Cow;

use aiplatform_push::BuildError;

/// Longest attribute (and metric) name New Relic takes, in characters (names must be shorter
/// than 255).
pub(crate) const MAX_NAME_CHARS: usize = 254;

/// Keys the Metric and Log APIs keep for themselves: the payload's own JSON keys, words
/// reserved across New Relic's database, and attributes the intake overwrites or owns.
/// A label of one of these names is sent as `label.<name>` (see [`label_key`]); an
/// attribute configured with one is refused.
const RESERVED: &[&str] = &[
    "timestamp",
    "interval.ms",
    "value",
    "common",
    "min",
    "max",
    "count",
    "sum",
    "metrics",
    "logs",
    "attributes",
    "accountId",
    "appId",
    "eventType",
    "metricName",
    "endTimestamp",
    "newrelic.source",
    "entity.guid",
    "entity.name",
    "entity.type",
];

/// Whether New Relic keeps `name` for itself.
pub(crate) fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name)
}

/// The attribute key a metric label is sent under: the label name, or `label.<name>` when the
/// name is reserved or equal to the metric's name (New Relic refuses an attribute named like
/// its metric). Prometheus label names hold no dots, so `label.` never clashes with a label.
pub(crate) fn label_key<'a>(label: &'a str, metric: &str) -> Cow<'a, str> {
    if is_reserved(label) || label == metric {
        Cow::Owned(format!("label.{label}"))
    } else {
        Cow::Borrowed(label)
    }
}

/// Checks an attribute given in the configuration (not a label: those are renamed instead).
pub(crate) fn check_configured(
    name: &str,
    value: &str,
    max_value: usize,
) -> Result<(), BuildError> {
    let problem = if name.is_empty() {
        Some("an attribute name must not be empty".to_owned())
    } else if name.chars().count() > MAX_NAME_CHARS {
        Some(format!(
            "attribute name {name:?} is longer than {MAX_NAME_CHARS} characters"
        ))
    } else if is_reserved(name) {
        Some(format!(
            "attribute name {name:?} is reserved by New Relic; choose another"
        ))
    } else if value.chars().count() > max_value {
        Some(format!(
            "the value of attribute {name:?} is longer than {max_value} characters"
        ))
    } else {
        None
    };
    match problem {
        Some(p) => Err(BuildError::Config(p)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_that_clash_are_renamed() {
        assert_eq!(label_key("method", "http_requests_total"), "method");
        assert_eq!(label_key("count", "x"), "label.count");
        assert_eq!(label_key("eventType", "x"), "label.eventType");
        assert_eq!(label_key("up", "up"), "label.up");
    }

    #[test]
    fn configured_attributes_are_checked() {
        assert!(check_configured("team", "payments", 4096).is_ok());
        assert!(check_configured("", "x", 4096).is_err());
        assert!(check_configured("timestamp", "x", 4096).is_err());
        assert!(check_configured("entity.guid", "x", 4096).is_err());
        assert!(check_configured(&"n".repeat(255), "x", 4096).is_err());
        assert!(check_configured("team", &"v".repeat(4097), 4096).is_err());
    }
}
