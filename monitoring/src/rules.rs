//! The Prometheus rule files under `monitoring/prometheus/rules/` and their promtool unit
//! tests under `monitoring/prometheus/tests/`, read into typed values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// `monitoring/prometheus`.
pub fn prometheus_dir() -> PathBuf {
    crate::repo_root().join("monitoring/prometheus")
}

/// A rule file: `groups:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// The rule groups, evaluated independently.
    pub groups: Vec<RuleGroup>,
}

/// A rule group.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleGroup {
    /// Unique name, e.g. `aiplatform-api.rules`.
    pub name: String,
    /// Evaluation interval, when not the global one.
    #[serde(default)]
    pub interval: Option<String>,
    /// The rules, evaluated in order.
    pub rules: Vec<Rule>,
}

/// A recording or alerting rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The series a recording rule writes.
    #[serde(default)]
    pub record: Option<String>,
    /// The alert an alerting rule raises.
    #[serde(default)]
    pub alert: Option<String>,
    /// The PromQL expression.
    pub expr: String,
    /// How long the condition must hold before the alert fires.
    #[serde(default, rename = "for")]
    pub for_: Option<String>,
    /// How long an alert keeps firing after its condition cleared.
    #[serde(default)]
    pub keep_firing_for: Option<String>,
    /// Labels added to the result.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Alert annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl Rule {
    /// The alert's `for:` as a duration (zero when absent).
    pub fn for_duration(&self) -> Duration {
        self.for_
            .as_deref()
            .map(|d| parse_duration(d).unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_default()
    }
}

/// Every rule file, by path, sorted.
pub fn rule_files() -> Vec<(PathBuf, RuleFile)> {
    read_yaml_dir(&prometheus_dir().join("rules"))
}

/// Every rule of every file, with the file and group it is in.
pub fn all_rules() -> Vec<(PathBuf, String, Rule)> {
    rule_files()
        .into_iter()
        .flat_map(|(path, file)| {
            file.groups.into_iter().flat_map(move |g| {
                let path = path.clone();
                g.rules
                    .into_iter()
                    .map(move |r| (path.clone(), g.name.clone(), r))
            })
        })
        .collect()
}

/// Every alert's thresholds by severity: alert name to `(severity, threshold)` pairs, the
/// threshold being the number the outermost comparison of its expression tests against.
pub fn alert_thresholds() -> BTreeMap<String, Vec<(String, f64)>> {
    let mut alerts: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for (path, _, rule) in all_rules() {
        let Some(name) = rule.alert else { continue };
        let threshold = crate::promql::thresholds(&rule.expr)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .first()
            .unwrap_or_else(|| panic!("{}: {name} compares with no number", path.display()))
            .value;
        let severity = rule.labels.get("severity").cloned().unwrap_or_default();
        alerts.entry(name).or_default().push((severity, threshold));
    }
    alerts
}

/// A promtool unit-test file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The rule files under test, relative to the test file.
    pub rule_files: Vec<String>,
    /// The evaluation interval of the tests.
    #[serde(default)]
    pub evaluation_interval: Option<String>,
    /// Group names in the order promtool evaluates them at each step.
    #[serde(default)]
    pub group_eval_order: Vec<String>,
    /// The test groups.
    pub tests: Vec<TestGroup>,
}

/// One test group: input series and the expectations over them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestGroup {
    /// What the group shows.
    #[serde(default)]
    pub name: Option<String>,
    /// The step between input values.
    #[serde(default)]
    pub interval: Option<String>,
    /// The series and their values.
    #[serde(default)]
    pub input_series: Vec<serde_norway::Value>,
    /// Alerts expected at given times.
    #[serde(default)]
    pub alert_rule_test: Vec<AlertTest>,
    /// Expression results expected at given times.
    #[serde(default)]
    pub promql_expr_test: Vec<serde_norway::Value>,
    /// External labels available to templates.
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// External URL available to templates.
    #[serde(default)]
    pub external_url: Option<String>,
}

/// The alerts expected to be firing at one time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertTest {
    /// When, from the start of the input series.
    pub eval_time: String,
    /// Which alert.
    pub alertname: String,
    /// The firing alerts expected (empty: none firing).
    #[serde(default)]
    pub exp_alerts: Vec<serde_norway::Value>,
}

impl AlertTest {
    /// `eval_time` as a duration.
    pub fn at(&self) -> Duration {
        parse_duration(&self.eval_time).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Every unit-test file, by path, sorted.
pub fn test_files() -> Vec<(PathBuf, TestFile)> {
    read_yaml_dir(&prometheus_dir().join("tests"))
}

/// Every YAML file of `dir`, read, by path, sorted.
fn read_yaml_dir<T: serde::de::DeserializeOwned>(dir: &Path) -> Vec<(PathBuf, T)> {
    yaml_files(dir)
        .into_iter()
        .map(|path| {
            let file = read_yaml(&path);
            (path, file)
        })
        .collect()
}

/// The `.yml`/`.yaml` files of `dir`, sorted.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("reading a directory entry").path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")))
        .collect();
    files.sort();
    files
}

/// Reads and deserializes a YAML file, panicking with the path and the error.
pub fn read_yaml<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parses a Prometheus duration: `1h30m`, `5m`, `10s`, `250ms`, `2d`, `1w`, `1y`.
///
/// ```
/// use std::time::Duration;
/// use aiplatform_monitoring::rules::parse_duration;
/// assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
/// assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
/// assert!(parse_duration("5 minutes").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("not a Prometheus duration: {text:?}");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = Duration::ZERO;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let millis = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return Err(bad()),
        };
        total += Duration::from_millis(n * millis);
        rest = &rest[unit_len..];
    }
    Ok(total)
}
