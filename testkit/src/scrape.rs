//! A scrape read back: parsed with [`aiplatform_prometheus::textparse`] (Go's
//! `expfmt.TextParser` rules, what the node exporter's textfile collector reads), then looked
//! up by sample name and labels.

use std::collections::{BTreeMap, BTreeSet};

use aiplatform_metrics::MetricKind;
use aiplatform_prometheus::textparse::{TextParseError, parse_text};

pub use aiplatform_prometheus::textparse::TextValue;

/// A parsed text exposition (0.0.4).
///
/// ```
/// use aiplatform_metrics::MetricKind;
/// use aiplatform_testkit::Scrape;
///
/// let text = [
///     "# HELP up Whether it answered.\n# TYPE up gauge\nup{job=\"a\"} 1\nup{job=\"b\"} 0\n",
///     "# TYPE t histogram\nt_bucket{le=\"1\"} 2\nt_bucket{le=\"+Inf\"} 3\nt_sum 4.5\nt_count 3\n",
/// ];
/// let e = Scrape::parse(text.concat());
/// assert_eq!(e.value("up", &[("job", "b")]), 0.0);
/// assert_eq!(e.get("up", &[("job", "c")]), None);
/// assert_eq!(e.value("t_count", &[]), 3.0);
/// assert_eq!(e.value("t_bucket", &[("le", "1")]), 2.0);
/// assert_eq!(e.family("up").kind, MetricKind::Gauge);
/// assert_eq!(e.label_values("up", "job"), ["a", "b"]);
/// ```
#[derive(Debug, Clone)]
pub struct Scrape {
    text: String,
    families: Vec<Family>,
}

/// One family: name (without histogram and summary suffixes), type, HELP and series.
#[derive(Debug, Clone)]
pub struct Family {
    /// The name.
    pub name: String,
    /// The declared type ([`MetricKind::Unknown`] for `untyped` or none).
    pub kind: MetricKind,
    /// The HELP text, unescaped (empty without a `# HELP` line).
    pub help: String,
    /// The series, in order of first appearance.
    pub series: Vec<Series>,
}

/// One series: its labels (without `le` or `quantile`) and value.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Label names to values.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: TextValue,
}

impl Family {
    /// The label names of every series.
    pub fn label_names(&self) -> BTreeSet<&str> {
        self.series
            .iter()
            .flat_map(|s| s.labels.keys().map(String::as_str))
            .collect()
    }
}

impl Series {
    /// The counter, gauge or untyped value (`None` for a histogram or summary).
    pub fn scalar(&self) -> Option<f64> {
        match self.value {
            TextValue::Scalar(v) => Some(v),
            _ => None,
        }
    }

    /// Whether every `(name, value)` pair is among the labels.
    pub fn has_labels(&self, labels: &[(&str, &str)]) -> bool {
        labels
            .iter()
            .all(|(k, v)| self.labels.get(*k).map(String::as_str) == Some(*v))
    }
}

impl Scrape {
    /// Parses `text`; panics with the parser's error and the text when it is not a valid
    /// exposition.
    pub fn parse(text: impl Into<String>) -> Scrape {
        let text = text.into();
        Scrape::try_parse(text.clone())
            .unwrap_or_else(|e| panic!("not a valid text exposition: {e}\n{text}"))
    }

    /// Parses `text`, returning the parser's error.
    pub fn try_parse(text: impl Into<String>) -> Result<Scrape, TextParseError> {
        let text = text.into();
        let families = parse_text(&text)?
            .into_iter()
            .map(|f| Family {
                name: f.name,
                kind: f.kind,
                help: f.help.unwrap_or_default(),
                series: f
                    .series
                    .into_iter()
                    .map(|s| Series {
                        labels: s.labels.into_iter().collect(),
                        value: s.value,
                    })
                    .collect(),
            })
            .collect();
        Ok(Scrape { text, families })
    }

    /// The text as scraped.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Every family, in order of appearance.
    pub fn families(&self) -> &[Family] {
        &self.families
    }

    /// The family called `name`; panics, listing the names there are, when absent.
    pub fn family(&self, name: &str) -> &Family {
        self.find(name).unwrap_or_else(|| {
            panic!(
                "no family {name}; the exposition has {:?}",
                self.families.iter().map(|f| &f.name).collect::<Vec<_>>()
            )
        })
    }

    /// Whether a family called `name` has a series.
    pub fn has(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    fn find(&self, name: &str) -> Option<&Family> {
        self.families.iter().find(|f| f.name == name)
    }

    /// The series of the family `name` (none when absent).
    pub fn series(&self, name: &str) -> &[Series] {
        self.find(name).map_or(&[], |f| &f.series)
    }

    /// The values of label `label` across the series of `name`, in order.
    pub fn label_values(&self, name: &str, label: &str) -> Vec<String> {
        self.series(name)
            .iter()
            .filter_map(|s| s.labels.get(label).cloned())
            .collect()
    }

    /// Every sample as a sample line names it: counters, gauges and untyped values under
    /// the family name; a histogram as `_bucket` (with `le`), `_sum` and `_count`; a summary
    /// as its quantiles (with `quantile`), `_sum` and `_count`. `le` and `quantile` are
    /// written as Prometheus writes them (`1`, `0.005`, `+Inf`).
    ///
    /// ```
    /// let e = aiplatform_testkit::Scrape::parse(
    ///     "# TYPE t histogram\nt_bucket{le=\"1.0\"} 2\nt_bucket{le=\"+Inf\"} 3\nt_sum 4.5\nt_count 3\n",
    /// );
    /// let names: Vec<_> = e.samples().map(|(name, labels, _)| (name, labels.get("le").cloned())).collect();
    /// assert_eq!(names[0], ("t_bucket".to_owned(), Some("1".to_owned())));
    /// assert_eq!(names[3], ("t_count".to_owned(), None));
    /// ```
    pub fn samples(&self) -> impl Iterator<Item = (String, BTreeMap<String, String>, f64)> + '_ {
        self.families.iter().flat_map(|f| {
            f.series.iter().flat_map(move |s| {
                let plain =
                    |suffix: &str, v: f64| (format!("{}{suffix}", f.name), s.labels.clone(), v);
                let bound = |suffix: &str, label: &str, at: f64, v: f64| {
                    let mut text = Vec::new();
                    aiplatform_metrics::collect::write_le_value(at, &mut text);
                    let mut labels = s.labels.clone();
                    labels.insert(
                        label.to_owned(),
                        String::from_utf8_lossy(&text).into_owned(),
                    );
                    (format!("{}{suffix}", f.name), labels, v)
                };
                match &s.value {
                    TextValue::Scalar(v) => vec![plain("", *v)],
                    TextValue::Histogram {
                        buckets,
                        sum,
                        count,
                    } => buckets
                        .iter()
                        .map(|&(le, v)| bound("_bucket", "le", le, v))
                        .chain([plain("_sum", *sum), plain("_count", *count)])
                        .collect(),
                    TextValue::Summary {
                        quantiles,
                        sum,
                        count,
                    } => quantiles
                        .iter()
                        .map(|&(q, v)| bound("", "quantile", q, v))
                        .chain([plain("_sum", *sum), plain("_count", *count)])
                        .collect(),
                }
            })
        })
    }

    /// The value of the sample `name` (a family name, or a histogram's or summary's
    /// `_bucket` / `_sum` / `_count` sample) whose labels include `labels` (`le` and `quantile`
    /// select a bucket or quantile). `None` when no series matches; panics when several do,
    /// since the lookup would then be a matter of luck.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let (family, part) = self.resolve(name)?;
        let bound = |key: &str| -> Option<f64> {
            let (_, v) = labels.iter().find(|(k, _)| *k == key)?;
            Some(
                v.parse()
                    .unwrap_or_else(|_| panic!("{key}={v:?} is not a number")),
            )
        };
        let plain: Vec<(&str, &str)> = labels
            .iter()
            .copied()
            .filter(|(k, _)| *k != "le" && *k != "quantile")
            .collect();
        let found: Vec<f64> = family
            .series
            .iter()
            .filter(|s| s.has_labels(&plain))
            .filter_map(|s| match (&s.value, part) {
                (TextValue::Scalar(v), Part::Whole) => Some(*v),
                (TextValue::Histogram { buckets, .. }, Part::Bucket) => {
                    let le = bound("le").expect("a _bucket lookup needs an le label");
                    buckets.iter().find(|(b, _)| *b == le).map(|(_, c)| *c)
                }
                (TextValue::Summary { quantiles, .. }, Part::Whole) => {
                    let q = bound("quantile").expect("a summary lookup needs a quantile label");
                    quantiles.iter().find(|(b, _)| *b == q).map(|(_, v)| *v)
                }
                (TextValue::Histogram { sum, .. } | TextValue::Summary { sum, .. }, Part::Sum) => {
                    Some(*sum)
                }
                (
                    TextValue::Histogram { count, .. } | TextValue::Summary { count, .. },
                    Part::Count,
                ) => Some(*count),
                _ => None,
            })
            .collect();
        assert!(
            found.len() <= 1,
            "{name}{labels:?} matches {} series of {}: {:?}",
            found.len(),
            family.name,
            family.series
        );
        found.first().copied()
    }

    /// [`get`](Self::get), panicking with the family's series when nothing matches.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or_else(|| {
            let have = self
                .resolve(name)
                .map(|(f, _)| format!("{:?}", f.series))
                .unwrap_or_else(|| "no such family".to_owned());
            panic!("no sample {name}{labels:?}; {have}")
        })
    }

    /// The sample lines (as scraped) of the family or sample `name`, any labels.
    pub fn lines_of<'a>(&'a self, name: &'a str) -> Vec<&'a str> {
        self.text
            .lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
            })
            .collect()
    }

    fn resolve(&self, name: &str) -> Option<(&Family, Part)> {
        if let Some(f) = self.find(name) {
            return Some((f, Part::Whole));
        }
        [
            ("_bucket", Part::Bucket),
            ("_sum", Part::Sum),
            ("_count", Part::Count),
        ]
        .into_iter()
        .find_map(|(suffix, part)| {
            let f = self.find(name.strip_suffix(suffix)?)?;
            matches!(f.kind, MetricKind::Histogram | MetricKind::Summary).then_some((f, part))
        })
    }
}

#[derive(Debug, Clone, Copy)]
enum Part {
    Whole,
    Bucket,
    Sum,
    Count,
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE s summary\ns{quantile=\"0.5\",op=\"a\"} 7\ns_sum{op=\"a\"} 9\ns_count{op=\"a\"} 2\n\
                        x{a=\"1\",b=\"2\"} 1\nx{a=\"1\",b=\"3\"} 2\n";

    #[test]
    fn summaries_and_subset_matches() {
        let e = Scrape::parse(TEXT);
        assert_eq!(e.value("s", &[("quantile", "0.5")]), 7.0);
        assert_eq!(e.value("s_sum", &[("op", "a")]), 9.0);
        assert_eq!(e.value("x", &[("b", "3")]), 2.0);
        assert_eq!(e.get("s_bucket", &[]), None);
        assert_eq!(e.lines_of("x").len(), 2);
        assert_eq!(e.samples().count(), 5);
        assert!(!e.has("s_sum") && e.has("s"));
    }

    #[test]
    #[should_panic(expected = "matches 2 series")]
    fn an_ambiguous_lookup_panics() {
        Scrape::parse(TEXT).get("x", &[("a", "1")]);
    }

    #[test]
    fn invalid_text_is_an_error() {
        assert!(Scrape::try_parse("x{a=1} 1\n").is_err());
    }
}
