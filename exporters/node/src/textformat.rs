//! A parser for the Prometheus text exposition format 0.0.4, with the rules of Go's
//! `expfmt.TextParser` that the textfile collector relies on: `# HELP` / `# TYPE` lines,
//! samples grouped into histogram and summary families by their `_bucket` / `_sum` /
//! `_count` suffixes, escapes in HELP and label values, optional timestamps.

use crate::error::{ParseError, ParseErrorKind};

/// A family's declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// `counter`.
    Counter,
    /// `gauge`.
    Gauge,
    /// `untyped`, or no `# TYPE` line.
    Untyped,
    /// `histogram`.
    Histogram,
    /// `summary`.
    Summary,
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

/// A family as read from the file.
#[derive(Debug, Clone, PartialEq)]
pub struct TextFamily {
    /// Family name (without histogram/summary suffixes).
    pub name: String,
    /// `# HELP` text, unescaped.
    pub help: Option<String>,
    /// `# TYPE`.
    pub kind: TextKind,
    /// The series, in order of first appearance.
    pub series: Vec<TextSeries>,
}

/// Parses a whole text exposition. Families without samples are dropped, as expfmt does.
pub fn parse_text(text: &str) -> Result<Vec<TextFamily>, ParseError> {
    let mut families: Vec<TextFamily> = Vec::new();
    let mut sampled: Vec<bool> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let err = |kind| ParseError::new("textfile", i + 1, kind);
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
) -> Result<(), ParseErrorKind> {
    let rest = comment.trim_start_matches([' ', '\t']);
    let (keyword, rest) = split_token(rest);
    if keyword != "HELP" && keyword != "TYPE" {
        return Ok(());
    }
    let (name, rest) = split_token(rest);
    if name.is_empty() {
        return Err(ParseErrorKind::Missing("metric name"));
    }
    if !valid_metric_name(name) {
        return Err(ParseErrorKind::malformed("invalid metric name", name));
    }
    let idx = match family_index(families, name) {
        Some(i) => i,
        None => {
            families.push(TextFamily {
                name: name.to_owned(),
                help: None,
                kind: TextKind::Untyped,
                series: Vec::new(),
            });
            sampled.push(false);
            families.len() - 1
        }
    };
    let f = &mut families[idx];
    if keyword == "HELP" {
        if f.help.is_some() {
            return Err(ParseErrorKind::malformed(
                "second HELP line for metric name",
                name,
            ));
        }
        f.help = Some(unescape_help(rest)?);
    } else {
        if sampled[idx] || f.kind != TextKind::Untyped {
            return Err(ParseErrorKind::malformed(
                "second TYPE line for metric name, or TYPE reported after samples",
                name,
            ));
        }
        f.kind = match rest.trim() {
            "counter" => TextKind::Counter,
            "gauge" => TextKind::Gauge,
            "untyped" => TextKind::Untyped,
            "histogram" => TextKind::Histogram,
            "summary" => TextKind::Summary,
            other => return Err(ParseErrorKind::malformed("unknown metric type", other)),
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

fn unescape_help(s: &str) -> Result<String, ParseErrorKind> {
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
                return Err(ParseErrorKind::malformed(
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
) -> Result<(), ParseErrorKind> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if !valid_metric_name(name) {
        return Err(ParseErrorKind::malformed("invalid metric name", line));
    }
    let mut rest = line[name_end..].trim_start_matches([' ', '\t']);
    let mut labels: Vec<(String, String)> = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = parse_labels(after, &mut labels)?;
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    let (value_text, rest) = split_token(rest);
    if value_text.is_empty() {
        return Err(ParseErrorKind::Missing("sample value"));
    }
    let value: f64 = crate::number::float(value_text)?;
    let (ts_text, rest) = split_token(rest);
    let has_timestamp = !ts_text.is_empty();
    if has_timestamp {
        crate::number::int(ts_text)?;
    }
    if !rest.trim().is_empty() {
        return Err(ParseErrorKind::malformed(
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
                    TextKind::Histogram => true,
                    TextKind::Summary => *suffix != "_bucket",
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
                        kind: TextKind::Untyped,
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
        TextKind::Counter | TextKind::Gauge | TextKind::Untyped => {
            f.series.push(TextSeries {
                labels,
                value: TextValue::Scalar(value),
                has_timestamp,
            });
        }
        TextKind::Histogram | TextKind::Summary => {
            let special = if f.kind == TextKind::Histogram {
                "le"
            } else {
                "quantile"
            };
            let mut bound = None;
            if (f.kind == TextKind::Histogram && suffix == "_bucket")
                || (f.kind == TextKind::Summary && suffix.is_empty())
            {
                let i = labels
                    .iter()
                    .position(|(k, _)| k == special)
                    .ok_or(ParseErrorKind::Missing("le or quantile label"))?;
                let (_, v) = labels.remove(i);
                bound = Some(crate::number::float(&v)?);
            } else if suffix.is_empty() {
                return Err(ParseErrorKind::malformed(
                    "histogram sample without suffix",
                    name,
                ));
            }
            let series = match f.series.iter_mut().position(|s| s.labels == labels) {
                Some(i) => &mut f.series[i],
                None => {
                    let value = if f.kind == TextKind::Histogram {
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
                _ => return Err(ParseErrorKind::malformed("unexpected sample", name)),
            }
        }
    }
    Ok(())
}

/// Parses `name="value",...}`; returns what follows the closing brace.
fn parse_labels<'a>(
    mut s: &'a str,
    labels: &mut Vec<(String, String)>,
) -> Result<&'a str, ParseErrorKind> {
    loop {
        s = s.trim_start_matches([' ', '\t']);
        if let Some(rest) = s.strip_prefix('}') {
            return Ok(rest);
        }
        let name_end = s
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .ok_or(ParseErrorKind::Missing("'}'"))?;
        let name = &s[..name_end];
        if !valid_label_name(name) {
            return Err(ParseErrorKind::malformed("invalid label name", s));
        }
        if name.starts_with("__") {
            return Err(ParseErrorKind::malformed("label name is reserved", name));
        }
        if labels.iter().any(|(k, _)| k == name) {
            return Err(ParseErrorKind::malformed("duplicate label name", name));
        }
        s = s[name_end..].trim_start_matches([' ', '\t']);
        s = s
            .strip_prefix('=')
            .ok_or(ParseErrorKind::Missing("'=' after label name"))?;
        s = s.trim_start_matches([' ', '\t']);
        s = s
            .strip_prefix('"')
            .ok_or(ParseErrorKind::Missing("'\"' opening a label value"))?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            match chars.next() {
                None => return Err(ParseErrorKind::Missing("'\"' closing a label value")),
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    _ => return Err(ParseErrorKind::malformed("invalid escape sequence", s)),
                },
                Some((_, c)) => value.push(c),
            }
        };
        labels.push((name.to_owned(), value));
        s = s[end + 1..].trim_start_matches([' ', '\t']);
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err(ParseErrorKind::malformed("expected ',' or '}'", s));
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
        assert_eq!(f[3].kind, TextKind::Untyped);
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
