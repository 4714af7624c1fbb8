//! What a PromQL expression reads: its series selectors, and the thresholds it compares
//! against. Parsed with the `promql-parser` crate, so an expression that does not parse is an
//! error here too.

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr};
use promql_parser::util::{ExprVisitor, walk_expr};

/// One series selector (`name{label="value", ...}`) of an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The metric name, from `name{...}` or `{__name__="name"}`; `None` when the selector
    /// names no metric (a regular expression on `__name__`, or none at all).
    pub metric: Option<String>,
    /// The label matchers other than the metric name.
    pub matchers: Vec<LabelMatcher>,
}

/// One `label op "value"` matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelMatcher {
    /// The label name.
    pub label: String,
    /// `=`, `!=`, `=~` or `!~`.
    pub op: &'static str,
    /// The value or regular expression.
    pub value: String,
    /// Whether the matcher also accepts series without the label (the empty value matches):
    /// `label!="x"`, `label=""`, `label=~".*"`... Such a matcher says nothing about whether
    /// the label exists.
    pub matches_empty: bool,
}

/// A comparison of an expression against a number: `expr > 0.05`.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// `>`, `>=`, `<`, `<=`, `==` or `!=`, as written with the number on the right.
    pub op: String,
    /// The number.
    pub value: f64,
}

/// Parses `expr`.
pub fn parse(expr: &str) -> Result<Expr, String> {
    parser::parse(expr).map_err(|e| format!("{e} in {expr:?}"))
}

/// Every series selector in `expr`, in order of appearance.
///
/// ```
/// let selectors = aiplatform_monitoring::promql::selectors(
///     r#"sum by (job) (rate(http_requests_total{status=~"5.."}[5m])) / on (job) up"#,
/// ).unwrap();
/// assert_eq!(selectors[0].metric.as_deref(), Some("http_requests_total"));
/// assert_eq!(selectors[0].matchers[0].label, "status");
/// assert_eq!(selectors[1].metric.as_deref(), Some("up"));
/// ```
pub fn selectors(expr: &str) -> Result<Vec<Selector>, String> {
    let ast = parse(expr)?;
    let mut collector = Selectors(Vec::new());
    walk_expr(&mut collector, &ast).expect("the collector never fails");
    Ok(collector.0)
}

/// The number every comparison in `expr` tests against, outermost first.
///
/// ```
/// let t = aiplatform_monitoring::promql::thresholds("ratio > 0.05 and on (job) rate > 0").unwrap();
/// assert_eq!((t[0].op.as_str(), t[0].value), (">", 0.05));
/// ```
pub fn thresholds(expr: &str) -> Result<Vec<Threshold>, String> {
    let ast = parse(expr)?;
    let mut collector = Thresholds(Vec::new());
    walk_expr(&mut collector, &ast).expect("the collector never fails");
    Ok(collector.0)
}

/// The range of every range selector (`x[5m]`) and subquery (`(...)[1h:]`) in `expr`.
///
/// ```
/// use std::time::Duration;
/// let r = aiplatform_monitoring::promql::ranges("rate(x[5m]) + max_over_time(y[1h])").unwrap();
/// assert_eq!(r, [Duration::from_secs(300), Duration::from_secs(3600)]);
/// ```
pub fn ranges(expr: &str) -> Result<Vec<std::time::Duration>, String> {
    let ast = parse(expr)?;
    let mut collector = Ranges(Vec::new());
    walk_expr(&mut collector, &ast).expect("the collector never fails");
    Ok(collector.0)
}

struct Ranges(Vec<std::time::Duration>);

impl ExprVisitor for Ranges {
    type Error = std::convert::Infallible;

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, Self::Error> {
        match expr {
            Expr::MatrixSelector(ms) => self.0.push(ms.range),
            Expr::Subquery(sq) => self.0.push(sq.range),
            _ => {}
        }
        Ok(true)
    }
}

struct Selectors(Vec<Selector>);

impl ExprVisitor for Selectors {
    type Error = std::convert::Infallible;

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, Self::Error> {
        let vs = match expr {
            Expr::VectorSelector(vs) => vs,
            Expr::MatrixSelector(ms) => &ms.vs,
            _ => return Ok(true),
        };
        let mut metric = vs.name.clone();
        let mut matchers = Vec::new();
        let all = vs
            .matchers
            .matchers
            .iter()
            .chain(vs.matchers.or_matchers.iter().flatten());
        for m in all {
            let op = match &m.op {
                MatchOp::Equal => "=",
                MatchOp::NotEqual => "!=",
                MatchOp::Re(_) => "=~",
                MatchOp::NotRe(_) => "!~",
            };
            if m.name == "__name__" {
                if op == "=" {
                    metric = Some(m.value.clone());
                }
                continue;
            }
            matchers.push(LabelMatcher {
                label: m.name.clone(),
                op,
                value: m.value.clone(),
                matches_empty: m.is_match(""),
            });
        }
        self.0.push(Selector { metric, matchers });
        Ok(true)
    }
}

struct Thresholds(Vec<Threshold>);

impl ExprVisitor for Thresholds {
    type Error = std::convert::Infallible;

    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, Self::Error> {
        if let Expr::Binary(b) = expr
            && b.op.is_comparison_operator()
            && let Expr::NumberLiteral(n) = unparen(&b.rhs)
        {
            self.0.push(Threshold {
                op: b.op.to_string(),
                value: n.val,
            });
        }
        Ok(true)
    }
}

fn unparen(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(p) => unparen(&p.expr),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_name_their_metric_and_keep_the_other_matchers() {
        let s = selectors(r#"{__name__="up", job!="x"} + on () count_over_time(node_load1[5m])"#)
            .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].metric.as_deref(), Some("up"));
        assert_eq!(
            s[0].matchers,
            [LabelMatcher {
                label: "job".into(),
                op: "!=",
                value: "x".into(),
                matches_empty: true,
            }]
        );
        assert_eq!(s[1].metric.as_deref(), Some("node_load1"));
        let regex_name = selectors(r#"{__name__=~"node_.+"}"#).unwrap();
        assert_eq!(regex_name[0].metric, None);
    }

    #[test]
    fn a_broken_expression_is_an_error() {
        assert!(selectors("rate(foo[5m]").is_err());
        assert!(selectors("sum by (le) rate(x[5m])").is_err());
    }

    #[test]
    fn matchers_know_whether_they_accept_a_missing_label() {
        let s = selectors(r#"x{a!="lo", b=~".*", c=~"5..", d="x", e!~"5..", f=""}"#).unwrap();
        let empty: Vec<(&str, bool)> = s[0]
            .matchers
            .iter()
            .map(|m| (m.label.as_str(), m.matches_empty))
            .collect();
        assert_eq!(
            empty,
            [
                ("a", true),
                ("b", true),
                ("c", false),
                ("d", false),
                ("e", true),
                ("f", true)
            ]
        );
    }

    #[test]
    fn thresholds_are_read_from_comparisons_with_a_number() {
        let t = thresholds("(a / (b > 0)) > 0.9 and on (i) c == 1").unwrap();
        let found: Vec<(&str, f64)> = t.iter().map(|t| (t.op.as_str(), t.value)).collect();
        assert_eq!(found, [(">", 0.9), (">", 0.0), ("==", 1.0)]);
    }
}
