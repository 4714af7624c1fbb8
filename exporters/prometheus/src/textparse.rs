//! A parser for the Prometheus text exposition format 0.0.4 with the rules of Go's
//! `expfmt.TextParser`: `# HELP` / `# TYPE` lines, samples grouped into histogram and summary
//! families by their `_bucket` / `_sum` / `_count` suffixes, escapes in HELP and label values,
//! optional timestamps, and Go's number syntax.
//!
//! It reads what the node exporter's textfile collector re-exports, and what tests read back
//! from an exporter, so both accept and refuse the same input as the Go tools do.
//!
//! ```
//! use aiplatform_metrics::MetricKind;
//! use aiplatform_prometheus::textparse::{TextValue, parse_text};
//!
//! let families = parse_text("# TYPE jobs_total counter\njobs_total{queue=\"mail\"} 3\n").unwrap();
//! assert_eq!((families[0].name.as_str(), families[0].kind), ("jobs_total", MetricKind::Counter));
//! assert_eq!(families[0].series[0].labels, [("queue".to_owned(), "mail".to_owned())]);
//! assert_eq!(families[0].series[0].value, TextValue::Scalar(3.0));
//! assert!(parse_text("jobs_total{queue=mail} 3\n").is_err());
//! ```

use aiplatform_metrics::MetricKind;
use thiserror::Error;

/// Where and why a text exposition was refused.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("line {line}: {kind}")]
pub struct TextParseError {
    /// The 1-based line where parsing stopped.
    pub line: usize,
    /// What was wrong.
    pub kind: TextParseErrorKind,
}

/// What a line of a text exposition has wrong.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TextParseErrorKind {
    /// A value or timestamp is not a number.
    #[error("invalid number {text:?}")]
    Number {
        /// The offending text (cut to 64 bytes).
        text: String,
    },
    /// A required part is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// The text does not follow the format.
    #[error("{what}: {text:?}")]
    Malformed {
        /// What was expected.
        what: &'static str,
        /// The offending text (cut to 64 bytes).
        text: String,
    },
}

impl TextParseErrorKind {
    fn number(text: &str) -> TextParseErrorKind {
        TextParseErrorKind::Number {
            text: clip(text).to_owned(),
        }
    }

    fn malformed(what: &'static str, text: &str) -> TextParseErrorKind {
        TextParseErrorKind::Malformed {
            what,
            text: clip(text).to_owned(),
        }
    }
}

/// At most 64 bytes of `s`, cut on a character boundary.
fn clip(s: &str) -> &str {
    if s.len() <= 64 {
        return s;
    }
    let mut end = 64;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A float as Go's `strconv.ParseFloat(s, 64)` reads it: decimal, exponent, `NaN`, `Inf`, and
/// `None` for a finite literal too large for a float (Go's `ErrRange`; Rust would round it to
/// an infinity).
///
/// ```
/// use aiplatform_prometheus::textparse::go_float;
///
/// assert_eq!(go_float("-Inf"), Some(f64::NEG_INFINITY));
/// assert_eq!(go_float("1e309"), None);
/// assert_eq!(go_float("1x"), None);
/// ```
pub fn go_float(s: &str) -> Option<f64> {
    let v = s.parse::<f64>().ok()?;
    if v.is_infinite() {
        let word = s.trim_start_matches(['+', '-']);
        if !(word.eq_ignore_ascii_case("inf") || word.eq_ignore_ascii_case("infinity")) {
            return None;
        }
    }
    Some(v)
}

fn float(s: &str) -> Result<f64, TextParseErrorKind> {
    go_float(s).ok_or_else(|| TextParseErrorKind::number(s))
}

/// One series' value.
#[derive(Debug, Clone, PartialEq)]
pub enum TextValue {
    /// A counter, gauge or untyped sample.
    Scalar(f64),
    /// A histogram: `(le, cumulative count)` buckets, sum and count.
    Histogram {
        /// Buckets in file order.
        buckets: Vec<(f64, f64)>,
        /// `_sum`.
        sum: f64,
        /// `_count`.
        count: f64,
    },
    /// A summary: `(quantile, value)` pairs, sum and count.
    Summary {
        /// Quantiles in file order.
        quantiles: Vec<(f64, f64)>,
        /// `_sum`.
        sum: f64,
        /// `_count`.
        count: f64,
    },
}

/// One series: labels (without `le` / `quantile`), value, and whether a timestamp was given.
#[derive(Debug, Clone, PartialEq)]
pub struct TextSeries {
    /// `(name, value)` pairs in file order.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: TextValue,
    /// A sample of the series carried a timestamp.
    pub has_timestamp: bool,
}

/// A family as read from the text.
#[derive(Debug, Clone, PartialEq)]
pub struct TextFamily {
    /// Family name (without histogram/summary suffixes).
    pub name: String,
    /// `# HELP` text, unescaped.
    pub help: Option<String>,
    /// `# TYPE` ([`MetricKind::Unknown`] for `untyped` or no `# TYPE` line).
    pub kind: MetricKind,
    /// The series, in order of first appearance.
    pub series: Vec<TextSeries>,
}

/// Parses a whole text exposition. Families without samples are dropped, as expfmt does.
pub fn parse_text(text: &str) -> Result<Vec<TextFamily>, TextParseError> {
    let mut families: Vec<TextFamily> = Vec::new();
    let mut sampled: Vec<bool> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |kind| TextParseError { line: i + 1, kind };
        let line = line.trim_start_matches([' ', '\t']);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            parse_comment(comment, &mut families, &mut sampled).map_err(err)?;
            continue;
        }
        parse_sample(line, &mut families, &mut sampled).map_err(err)?;
    }
    let mut out: Vec<TextFamily> = families
        .into_iter()
        .filter(|f| !f.series.is_empty())
        .collect();
    for f in &mut out {
        for s in &mut f.series {
            if let TextValue::Histogram { buckets, .. } = &mut s.value {
                buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
        }
    }
    Ok(out)
}

fn family_index(families: &[TextFamily], name: &str) -> Option<usize> {
    families.iter().position(|f| f.name == name)
}

fn parse_comment(
    comment: &str,
    families: &mut Vec<TextFamily>,
    sampled: &mut Vec<bool>,
) -> Result<(), TextParseErrorKind> {
    let rest = comment.trim_start_matches([' ', '\t']);
    let (keyword, rest) = split_token(rest);
    if keyword != "HELP" && keyword != "TYPE" {
        return Ok(());
    }
    let (name, rest) = split_token(rest);
    if name.is_empty() {
        return Err(TextParseErrorKind::Missing("metric name"));
    }
    if !valid_metric_name(name) {
        return Err(TextParseErrorKind::malformed("invalid metric name", name));
    }
    let idx = match family_index(families, name) {
        Some(i) => i,
        None => {
            families.push(TextFamily {
                name: name.to_owned(),
                help: None,
                kind: MetricKind::Unknown,
                series: Vec::new(),
            });
            sampled.push(false);
            families.len() - 1
        }
    };
    let f = &mut families[idx];
    if keyword == "HELP" {
        if f.help.is_some() {
            return Err(TextParseErrorKind::malformed(
                "second HELP line for metric name",
                name,
            ));
        }
        f.help = Some(unescape_help(rest)?);
    } else {
        if sampled[idx] || f.kind != MetricKind::Unknown {
            return Err(TextParseErrorKind::malformed(
                "second TYPE line for metric name, or TYPE reported after samples",
                name,
            ));
        }
        f.kind = match rest.trim() {
            "counter" => MetricKind::Counter,
            "gauge" => MetricKind::Gauge,
            "untyped" => MetricKind::Unknown,
            "histogram" => MetricKind::Histogram,
            "summary" => MetricKind::Summary,
            other => return Err(TextParseErrorKind::malformed("unknown metric type", other)),
        };
    }
    Ok(())
}

/// The first blank-separated token and the rest after one run of blanks.
fn split_token(s: &str) -> (&str, &str) {
    let end = s.find([' ', '\t']).unwrap_or(s.len());
    let (tok, rest) = s.split_at(end);
    (tok, rest.trim_start_matches([' ', '\t']))
}

fn unescape_help(s: &str) -> Result<String, TextParseErrorKind> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            _ => {
                return Err(TextParseErrorKind::malformed(
                    "invalid escape sequence in HELP",
                    s,
                ));
            }
        }
    }
    Ok(out)
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn valid_metric_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn valid_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn parse_sample(
    line: &str,
    families: &mut Vec<TextFamily>,
    sampled: &mut Vec<bool>,
) -> Result<(), TextParseErrorKind> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if !valid_metric_name(name) {
        return Err(TextParseErrorKind::malformed("invalid metric name", line));
    }
    let mut rest = line[name_end..].trim_start_matches([' ', '\t']);
    let mut labels: Vec<(String, String)> = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = parse_labels(after, &mut labels)?;
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    let (value_text, rest) = split_token(rest);
    if value_text.is_empty() {
        return Err(TextParseErrorKind::Missing("sample value"));
    }
    let value: f64 = float(value_text)?;
    let (ts_text, rest) = split_token(rest);
    let has_timestamp = !ts_text.is_empty();
    if has_timestamp {
        ts_text
            .parse::<i64>()
            .map_err(|_| TextParseErrorKind::number(ts_text))?;
    }
    if !rest.trim().is_empty() {
        return Err(TextParseErrorKind::malformed(
            "unexpected text after the sample",
            rest,
        ));
    }

    // Which family the sample belongs to.
    let (idx, suffix) = match family_index(families, name) {
        Some(i) => (i, ""),
        None => {
            let grouped = ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
                let base = name.strip_suffix(suffix)?;
                let i = family_index(families, base)?;
                let ok = match families[i].kind {
                    MetricKind::Histogram => true,
                    MetricKind::Summary => *suffix != "_bucket",
                    _ => false,
                };
                ok.then_some((i, *suffix))
            });
            match grouped {
                Some(g) => g,
                None => {
                    families.push(TextFamily {
                        name: name.to_owned(),
                        help: None,
                        kind: MetricKind::Unknown,
                        series: Vec::new(),
                    });
                    sampled.push(false);
                    (families.len() - 1, "")
                }
            }
        }
    };
    sampled[idx] = true;
    let f = &mut families[idx];
    match f.kind {
        kind if !matches!(kind, MetricKind::Histogram | MetricKind::Summary) => {
            f.series.push(TextSeries {
                labels,
                value: TextValue::Scalar(value),
                has_timestamp,
            });
        }
        _ => {
            let special = if f.kind == MetricKind::Histogram {
                "le"
            } else {
                "quantile"
            };
            let mut bound = None;
            if (f.kind == MetricKind::Histogram && suffix == "_bucket")
                || (f.kind == MetricKind::Summary && suffix.is_empty())
            {
                let i = labels
                    .iter()
                    .position(|(k, _)| k == special)
                    .ok_or(TextParseErrorKind::Missing("le or quantile label"))?;
                let (_, v) = labels.remove(i);
                bound = Some(float(&v)?);
            } else if suffix.is_empty() {
                return Err(TextParseErrorKind::malformed(
                    "histogram sample without suffix",
                    name,
                ));
            }
            let series = match f.series.iter_mut().position(|s| s.labels == labels) {
                Some(i) => &mut f.series[i],
                None => {
                    let value = if f.kind == MetricKind::Histogram {
                        TextValue::Histogram {
                            buckets: Vec::new(),
                            sum: 0.0,
                            count: 0.0,
                        }
                    } else {
                        TextValue::Summary {
                            quantiles: Vec::new(),
                            sum: 0.0,
                            count: 0.0,
                        }
                    };
                    f.series.push(TextSeries {
                        labels,
                        value,
                        has_timestamp: false,
                    });
                    f.series.last_mut().expect("just pushed")
                }
            };
            series.has_timestamp |= has_timestamp;
            match (&mut series.value, suffix, bound) {
                (TextValue::Histogram { buckets, .. }, "_bucket", Some(le)) => {
                    buckets.push((le, value))
                }
                (TextValue::Summary { quantiles, .. }, "", Some(q)) => quantiles.push((q, value)),
                (TextValue::Histogram { sum, .. } | TextValue::Summary { sum, .. }, "_sum", _) => {
                    *sum = value
                }
                (
                    TextValue::Histogram { count, .. } | TextValue::Summary { count, .. },
                    "_count",
                    _,
                ) => *count = value,
                _ => return Err(TextParseErrorKind::malformed("unexpected sample", name)),
            }
        }
    }
    Ok(())
}

/// Parses `name="value",...}`; returns what follows the closing brace.
fn parse_labels<'a>(
    mut s: &'a str,
    labels: &mut Vec<(String, String)>,
) -> Result<&'a str, TextParseErrorKind> {
    loop {
        s = s.trim_start_matches([' ', '\t']);
        if let Some(rest) = s.strip_prefix('}') {
            return Ok(rest);
        }
        let name_end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .ok_or(TextParseErrorKind::Missing("'}'"))?;
        let name = &s[..name_end];
        if !valid_label_name(name) {
            return Err(TextParseErrorKind::malformed("invalid label name", s));
        }
        if name.starts_with("__") {
            return Err(TextParseErrorKind::malformed(
                "label name is reserved",
                name,
            ));
        }
        if labels.iter().any(|(k, _)| k == name) {
            return Err(TextParseErrorKind::malformed("duplicate label name", name));
        }
        s = s[name_end..].trim_start_matches([' ', '\t']);
        s = s
            .strip_prefix('=')
            .ok_or(TextParseErrorKind::Missing("'=' after label name"))?;
        s = s.trim_start_matches([' ', '\t']);
        s = s
            .strip_prefix('"')
            .ok_or(TextParseErrorKind::Missing("'\"' opening a label value"))?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(TextParseErrorKind::Missing("'\"' closing a label value")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    _ => return Err(TextParseErrorKind::malformed("invalid escape sequence", s)),
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.push((name.to_owned(), value));
        s = s[end + 1..].trim_start_matches([' ', '\t']);
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err(TextParseErrorKind::malformed("expected ',' or '}'", s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_types_and_grouping() {
        let f = parse_text(
            "# HELP foo A \\\\ foo\\n.\n# TYPE foo counter\nfoo{a=\"x\\\"y\",b=\"\"} 3\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\nplain 1.5 123\n# TYPE empty gauge\n",
        )
        .unwrap();
        assert_eq!(f.len(), 4);
        assert_eq!(f[0].help.as_deref(), Some("A \\ foo\n."));
        assert_eq!(
            f[0].series[0].labels[0],
            ("a".to_owned(), "x\"y".to_owned())
        );
        assert_eq!(
            f[1].series[0].value,
            TextValue::Histogram {
                buckets: vec![(1.0, 1.0), (f64::INFINITY, 2.0)],
                sum: 3.0,
                count: 2.0
            }
        );
        assert_eq!(
            f[2].series[0].value,
            TextValue::Summary {
                quantiles: vec![(0.5, 1.0)],
                sum: 2.0,
                count: 3.0
            }
        );
        assert!(f[3].series[0].has_timestamp);
        assert_eq!(f[3].kind, MetricKind::Unknown);
    }

    #[test]
    fn refuses_what_expfmt_refuses() {
        for bad in [
            "foo{a=\"1\" 1\n",
            "foo{a=1} 1\n",
            "foo x\n",
            "foo\n",
            "foo 1 2 3\n",
            "# TYPE foo bogus\n",
            "# HELP foo a\n# HELP foo b\n",
            "foo 1\n# TYPE foo gauge\n",
            "foo{__x=\"1\"} 1\n",
            "foo{a=\"1\",a=\"2\"} 1\n",
            "0foo 1\n",
            "# TYPE h histogram\nh_bucket 1\n",
            "foo{a=\"\\q\"} 1\n",
        ] {
            assert!(parse_text(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
