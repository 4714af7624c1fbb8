//! The series names and label names in a Prometheus text exposition (what a `/metrics`
//! endpoint returns), for checking that queries name series that exist.

use std::collections::{BTreeMap, BTreeSet};

/// Metric name (as it appears on sample lines: `_bucket`, `_sum`, `_count`, `_total` included)
/// to the label names seen on its samples.
pub type SeriesNames = BTreeMap<String, BTreeSet<String>>;

/// Reads the sample lines of a text exposition (comments and blank lines are skipped).
///
/// ```
/// let names = aiplatform_monitoring::exposition::series_names(
///     "# TYPE x_total counter\nx_total{a=\"1\",b=\"q\\\"}\"} 3\nup 1\n",
/// ).unwrap();
/// assert_eq!(names["x_total"].iter().collect::<Vec<_>>(), ["a", "b"]);
/// assert!(names["up"].is_empty());
/// ```
pub fn series_names(text: &str) -> Result<SeriesNames, String> {
    let mut names = SeriesNames::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, labels) = parse_series(line)
            .ok_or_else(|| format!("line {}: not a sample: {line:?}", number + 1))?;
        names.entry(name).or_default().extend(labels);
    }
    Ok(names)
}

/// Splits `name{l1="v",l2="w"} value` into the name and the label names.
fn parse_series(line: &str) -> Option<(String, Vec<String>)> {
    let end = line.find(['{', ' ', '\t']).unwrap_or(line.len());
    let name = &line[..end];
    if name.is_empty() {
        return None;
    }
    let mut labels = Vec::new();
    let mut rest = &line[end..];
    if let Some(body) = rest.strip_prefix('{') {
        rest = body;
        loop {
            rest = rest.trim_start_matches([' ', ',']);
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find('=')?;
            labels.push(rest[..eq].trim().to_owned());
            rest = rest[eq + 1..].trim_start().strip_prefix('"')?;
            // Skip the quoted value, honouring \" and \\ escapes.
            let mut chars = rest.char_indices();
            let close = loop {
                match chars.next()? {
                    (_, '\\') => {
                        chars.next()?;
                    }
                    (i, '"') => break i,
                    _ => {}
                }
            };
            rest = &rest[close + 1..];
        }
    }
    if rest.trim().is_empty() {
        return None;
    }
    Some((name.to_owned(), labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_show_their_sample_names() {
        let text = "# TYPE h histogram\n\
                    h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n";
        let names = series_names(text).unwrap();
        assert_eq!(
            names.keys().collect::<Vec<_>>(),
            ["h_bucket", "h_count", "h_sum"]
        );
        assert!(names["h_bucket"].contains("le"));
    }

    #[test]
    fn a_line_without_a_value_is_an_error() {
        assert!(series_names("x{a=\"1\"}\n").is_err());
        assert!(series_names("x{a=\"1\n").is_err());
    }
}
