//! What a family is: name, type, help, unit and label names, validated once.

use crate::error::RegistrationError;
use crate::labels::escape_help;
use crate::names::{Unit, check_label_name, check_metric_name};

/// The type of a metric family, as the exposition formats name it.
///
/// ```
/// use aiplatform_metrics::MetricKind;
/// assert_eq!(MetricKind::Unknown.text_name(), "untyped");
/// assert_eq!(MetricKind::Unknown.openmetrics_name(), "unknown");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum MetricKind {
    /// A monotonically increasing total.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Observations counted in cumulative buckets, with a count and a sum.
    Histogram,
    /// Precomputed quantiles with a count and a sum (collectors only).
    Summary,
    /// A value of unknown type: `untyped` in text 0.0.4, `unknown` in OpenMetrics.
    Unknown,
}

impl MetricKind {
    /// The Prometheus text 0.0.4 `# TYPE` word.
    pub fn text_name(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
            MetricKind::Summary => "summary",
            MetricKind::Unknown => "untyped",
        }
    }

    /// The OpenMetrics 1.0 `# TYPE` word.
    pub fn openmetrics_name(self) -> &'static str {
        match self {
            MetricKind::Unknown => "unknown",
            other => other.text_name(),
        }
    }
}

/// A validated family description with its exposition strings prepared.
#[derive(Debug)]
pub(crate) struct Descriptor {
    /// The family name: OpenMetrics' name, without `_total` for counters.
    pub(crate) name: Box<str>,
    pub(crate) help: Box<str>,
    pub(crate) unit: Option<Unit>,
    pub(crate) kind: MetricKind,
    pub(crate) label_names: Box<[Box<str>]>,
    /// Whether a counter's text 0.0.4 samples (and its HELP/TYPE lines) carry `_total`.
    /// OpenMetrics requires it on every counter sample, so it is always there.
    pub(crate) text_total: bool,
    /// HELP escaped for text 0.0.4 (`\\`, `\n`) and for OpenMetrics (also `\"`).
    pub(crate) help_text: Box<str>,
    pub(crate) help_om: Box<str>,
}

impl Descriptor {
    /// Validates and normalises a family description.
    ///
    /// A counter named `x_total` gets the family name `x`; its samples are always `x_total`.
    /// A unit that is not already the name's last part is appended (`latency` + seconds →
    /// `latency_seconds`), as the OpenMetrics rule "unit is a suffix of the name" requires.
    /// HELP text is trimmed: text 0.0.4 parsers drop the blanks before it, so surrounding
    /// whitespace could not survive a scrape in one of the two formats.
    pub(crate) fn new(
        kind: MetricKind,
        name: &str,
        help: &str,
        unit: Option<Unit>,
        label_names: &[&str],
        namespace: Option<&str>,
        const_label_names: &[Box<str>],
    ) -> Result<Descriptor, RegistrationError> {
        let mut full = match namespace {
            Some(ns) if !ns.is_empty() => format!("{ns}_{name}"),
            _ => name.to_owned(),
        };
        check_metric_name(&full)?;
        if kind == MetricKind::Counter
            && let Some(base) = full.strip_suffix("_total")
        {
            full.truncate(base.len());
        }
        if let Some(unit) = &unit
            && !full.ends_with(&format!("_{unit}"))
        {
            full.push('_');
            full.push_str(unit.as_str());
        }
        let mut names: Vec<Box<str>> = Vec::with_capacity(label_names.len());
        for &label in label_names {
            check_label_name(label)?;
            let reserved = match kind {
                MetricKind::Histogram if label == "le" => Some("histogram"),
                MetricKind::Summary if label == "quantile" => Some("summary"),
                _ => None,
            };
            if let Some(kind) = reserved {
                return Err(RegistrationError::ReservedLabel {
                    metric: full,
                    label: label.to_owned(),
                    kind,
                });
            }
            if names.iter().any(|n| &**n == label) {
                return Err(RegistrationError::DuplicateLabel {
                    metric: full,
                    label: label.to_owned(),
                });
            }
            if const_label_names.iter().any(|n| &**n == label) {
                return Err(RegistrationError::ConstLabelConflict {
                    metric: full,
                    label: label.to_owned(),
                });
            }
            names.push(label.into());
        }
        let help = help.trim();
        let (mut help_text, mut help_om) = (String::new(), String::new());
        escape_help(help, false, &mut help_text);
        escape_help(help, true, &mut help_om);
        Ok(Descriptor {
            name: full.into(),
            help: help.into(),
            unit,
            kind,
            label_names: names.into(),
            text_total: true,
            help_text: help_text.into(),
            help_om: help_om.into(),
        })
    }

    /// Keeps a counter's text 0.0.4 sample name as `given` was spelled: without a `_total`
    /// it did not have, as client_golang writes counters. Other kinds are unaffected.
    pub(crate) fn text_name_as_given(mut self, given: &str) -> Descriptor {
        if self.kind == MetricKind::Counter && !given.ends_with("_total") {
            self.text_total = false;
        }
        self
    }

    /// The `# HELP`/`# TYPE` name and sample name suffix counters get in `format`.
    pub(crate) fn counter_suffix(&self, openmetrics: bool) -> &'static [u8] {
        if self.kind == MetricKind::Counter && (openmetrics || self.text_total) {
            b"_total"
        } else {
            b""
        }
    }

    /// Same description under another namespace prefix.
    pub(crate) fn prefixed(&self, namespace: &str) -> Descriptor {
        let name = format!("{namespace}_{}", self.name);
        Descriptor {
            name: name.into(),
            help: self.help.clone(),
            unit: self.unit.clone(),
            kind: self.kind,
            label_names: self.label_names.clone(),
            text_total: self.text_total,
            help_text: self.help_text.clone(),
            help_om: self.help_om.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(
        kind: MetricKind,
        name: &str,
        unit: Option<Unit>,
    ) -> Result<Descriptor, RegistrationError> {
        Descriptor::new(kind, name, "help", unit, &[], None, &[])
    }

    #[test]
    fn counter_total_suffix_is_the_sample_suffix() {
        assert_eq!(
            &*desc(MetricKind::Counter, "requests_total", None)
                .unwrap()
                .name,
            "requests"
        );
        assert_eq!(
            &*desc(MetricKind::Counter, "requests", None).unwrap().name,
            "requests"
        );
        assert_eq!(
            &*desc(MetricKind::Gauge, "odd_total", None).unwrap().name,
            "odd_total"
        );
    }

    #[test]
    fn unit_is_appended_once() {
        let s = Some(Unit::SECONDS);
        assert_eq!(
            &*desc(MetricKind::Histogram, "latency", s.clone())
                .unwrap()
                .name,
            "latency_seconds"
        );
        assert_eq!(
            &*desc(MetricKind::Histogram, "latency_seconds", s.clone())
                .unwrap()
                .name,
            "latency_seconds"
        );
        assert_eq!(
            &*desc(MetricKind::Counter, "cpu_total", s).unwrap().name,
            "cpu_seconds",
            "counter units go before the _total the samples get"
        );
    }

    #[test]
    fn namespace_prefix_and_validation() {
        let d = Descriptor::new(MetricKind::Gauge, "up", "h", None, &[], Some("app"), &[]).unwrap();
        assert_eq!(&*d.name, "app_up");
        assert!(matches!(
            desc(MetricKind::Gauge, "bad-name", None),
            Err(RegistrationError::Name(_))
        ));
    }

    #[test]
    fn label_rules() {
        let d = |kind, labels: &[&str], consts: &[Box<str>]| {
            Descriptor::new(kind, "m", "h", None, labels, None, consts)
        };
        assert!(matches!(
            d(MetricKind::Histogram, &["le"], &[]),
            Err(RegistrationError::ReservedLabel { .. })
        ));
        assert!(d(MetricKind::Gauge, &["le"], &[]).is_ok());
        assert!(matches!(
            d(MetricKind::Summary, &["quantile"], &[]),
            Err(RegistrationError::ReservedLabel { .. })
        ));
        assert!(matches!(
            d(MetricKind::Gauge, &["a", "a"], &[]),
            Err(RegistrationError::DuplicateLabel { .. })
        ));
        assert!(matches!(
            d(MetricKind::Gauge, &["env"], &["env".into()]),
            Err(RegistrationError::ConstLabelConflict { .. })
        ));
        assert!(matches!(
            d(MetricKind::Gauge, &["__x"], &[]),
            Err(RegistrationError::Name(_))
        ));
    }

    #[test]
    fn help_is_escaped_per_format() {
        let help = " a \"q\" \\ \nb\n";
        let d = Descriptor::new(MetricKind::Gauge, "m", help, None, &[], None, &[]).unwrap();
        assert_eq!(&*d.help_text, r#"a "q" \\ \nb"#, "trimmed, then escaped");
        assert_eq!(&*d.help_om, r#"a \"q\" \\ \nb"#);
    }

    #[test]
    fn type_words() {
        assert_eq!(MetricKind::Unknown.text_name(), "untyped");
        assert_eq!(MetricKind::Unknown.openmetrics_name(), "unknown");
        assert_eq!(MetricKind::Counter.openmetrics_name(), "counter");
    }
}
