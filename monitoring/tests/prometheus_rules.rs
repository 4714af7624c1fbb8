//! The alerting and recording rules: accepted by promtool with lint findings fatal, written
//! to the project's conventions, and unit-tested by promtool, each alert with a case where it
//! fires at the right moment, one where it must not fire, and one where it resolves.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use aiplatform_monitoring::process::run_tool;
use aiplatform_monitoring::rules::{self, Rule, TestFile};

fn promtool(args: &[&str], files: &[PathBuf]) -> String {
    let all: Vec<&std::ffi::OsStr> = args
        .iter()
        .map(|a| a.as_ref())
        .chain(files.iter().map(|f| f.as_os_str()))
        .collect();
    let (ok, text) = run_tool("promtool", "prometheus", &all);
    assert!(ok, "promtool {args:?} failed:\n{text}");
    text
}

fn rule_paths() -> Vec<PathBuf> {
    rules::rule_files().into_iter().map(|(p, _)| p).collect()
}

#[test]
fn promtool_accepts_every_rule_file_with_lint_fatal() {
    let text = promtool(
        &["check", "rules", "--lint=all", "--lint-fatal"],
        &rule_paths(),
    );
    eprintln!("{text}");
    assert!(!text.contains("FAILED"), "{text}");
}

#[test]
fn promtool_unit_tests_pass() {
    let tests: Vec<PathBuf> = rules::test_files().into_iter().map(|(p, _)| p).collect();
    let text = promtool(&["test", "rules"], &tests);
    eprintln!("{text}");
    assert_eq!(text.matches("SUCCESS").count(), tests.len(), "{text}");
}

const SEVERITIES: [&str; 2] = ["warning", "critical"];
const TEAMS: [&str; 3] = ["api", "database", "platform"];
const RUNBOOK: &str =
    "https://github.com/aiplatform/observability/blob/main/monitoring/RUNBOOK.md#";

/// GitHub's anchor for a Markdown heading: lower case, spaces to dashes, punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

#[test]
fn every_alert_has_for_severity_team_and_annotations_with_a_real_runbook() {
    let runbook =
        std::fs::read_to_string(aiplatform_monitoring::repo_root().join("monitoring/RUNBOOK.md"))
            .expect("monitoring/RUNBOOK.md");
    let anchors: BTreeSet<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(anchor)
        .collect();
    let mut alerts = 0;
    for (path, group, rule) in rules::all_rules() {
        let Some(name) = &rule.alert else { continue };
        alerts += 1;
        let at = format!("{} {group} {name}", path.display());
        assert!(rule.for_duration() > Duration::ZERO, "{at}: no for:");
        let severity = rule.labels.get("severity").map(String::as_str);
        assert!(
            severity.is_some_and(|s| SEVERITIES.contains(&s)),
            "{at}: severity {severity:?} not one of {SEVERITIES:?}"
        );
        let team = rule.labels.get("team").map(String::as_str);
        assert!(
            team.is_some_and(|t| TEAMS.contains(&t)),
            "{at}: team {team:?} not one of {TEAMS:?} (Alertmanager routes on it)"
        );
        let keys: Vec<&str> = rule.annotations.keys().map(String::as_str).collect();
        assert_eq!(keys, ["description", "runbook_url", "summary"], "{at}");
        let url = &rule.annotations["runbook_url"];
        let section = url
            .strip_prefix(RUNBOOK)
            .unwrap_or_else(|| panic!("{at}: runbook_url {url} is not in RUNBOOK.md"));
        assert!(
            anchors.contains(section),
            "{at}: RUNBOOK.md has no section #{section}"
        );
        assert_eq!(
            section,
            name.to_lowercase(),
            "{at}: runbook section named after the alert"
        );
    }
    assert!(alerts > 0);
}

#[test]
fn recording_rules_follow_level_metric_operations_and_groups_hold_one_kind() {
    let mut groups = BTreeSet::new();
    for (path, file) in rules::rule_files() {
        for group in &file.groups {
            assert!(
                groups.insert(group.name.clone()),
                "{}: group {} defined twice",
                path.display(),
                group.name
            );
            let recording = group.rules.iter().filter(|r| r.record.is_some()).count();
            let kind = if group.name.ends_with(".rules") {
                recording == group.rules.len()
            } else {
                group.name.ends_with(".alerts") && recording == 0
            };
            assert!(
                kind,
                "{}: group {} must be named *.rules (recording only) or *.alerts (alerts only)",
                path.display(),
                group.name
            );
            for rule in &group.rules {
                assert!(
                    rule.record.is_some() != rule.alert.is_some(),
                    "{}: a rule is either record or alert",
                    path.display()
                );
                if let Some(record) = &rule.record {
                    let parts: Vec<&str> = record.split(':').collect();
                    let valid = parts.len() == 3
                        && parts.iter().all(|p| {
                            !p.is_empty()
                                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        });
                    assert!(
                        valid,
                        "{}: {record} is not level:metric:operations",
                        path.display()
                    );
                    assert!(
                        rule.for_.is_none() && rule.annotations.is_empty(),
                        "{record}: for/annotations on a recording rule"
                    );
                }
            }
        }
    }
}

/// For each alert, what its unit tests show.
#[derive(Debug, Default)]
struct Coverage {
    /// A group where it is silent before `for` elapsed and fires once it has.
    fires_on_time: bool,
    /// A group where it fired and is silent again later.
    resolves: bool,
    /// A group where it never fires, evaluated past `for`: a false positive held off.
    holds_off: bool,
}

fn test_file_rules(path: &Path, file: &TestFile) -> Vec<PathBuf> {
    file.rule_files
        .iter()
        .map(|r| {
            let p = path.parent().unwrap().join(r);
            p.canonicalize()
                .unwrap_or_else(|e| panic!("{}: rule file {r}: {e}", path.display()))
        })
        .collect()
}

#[test]
fn every_alert_is_unit_tested_firing_on_time_holding_off_and_resolving() {
    let alerts: BTreeMap<String, Vec<Rule>> = rules::all_rules()
        .into_iter()
        .filter_map(|(_, _, r)| r.alert.clone().map(|a| (a, r)))
        .fold(BTreeMap::new(), |mut m, (a, r)| {
            m.entry(a).or_default().push(r);
            m
        });
    let mut coverage: BTreeMap<&str, Coverage> = alerts
        .keys()
        .map(|a| (a.as_str(), Coverage::default()))
        .collect();
    let (mut groups, mut alert_cases, mut expr_cases) = (0, 0, 0);
    for (path, file) in rules::test_files() {
        for group in &file.tests {
            groups += 1;
            alert_cases += group.alert_rule_test.len();
            expr_cases += group.promql_expr_test.len();
            for (name, rules) in &alerts {
                let cases: Vec<_> = group
                    .alert_rule_test
                    .iter()
                    .filter(|t| &t.alertname == name)
                    .collect();
                if cases.is_empty() {
                    continue;
                }
                // The shortest for: among the alert's rules (a warning and a critical).
                let for_ = rules.iter().map(Rule::for_duration).min().unwrap();
                let first_fire = cases
                    .iter()
                    .filter(|t| !t.exp_alerts.is_empty())
                    .map(|t| t.at())
                    .min();
                let c = coverage.get_mut(name.as_str()).unwrap();
                match first_fire {
                    None => {
                        if cases.iter().any(|t| t.at() >= for_) {
                            c.holds_off = true;
                        }
                    }
                    Some(fired) => {
                        // Silent before: proves the alert waited for `for` (the earlier
                        // expectation must be close enough to `fired` to be within `for`).
                        if cases.iter().any(|t| {
                            t.exp_alerts.is_empty() && t.at() < fired && fired - t.at() <= for_
                        }) {
                            c.fires_on_time = true;
                        }
                        if cases
                            .iter()
                            .any(|t| t.exp_alerts.is_empty() && t.at() > fired)
                        {
                            c.resolves = true;
                        }
                    }
                }
            }
            let _ = &path;
        }
    }
    let missing: Vec<String> = coverage
        .iter()
        .filter(|(_, c)| !(c.fires_on_time && c.resolves && c.holds_off))
        .map(|(a, c)| format!("{a}: {c:?}"))
        .collect();
    assert!(
        missing.is_empty(),
        "alerts without full unit tests:\n{}",
        missing.join("\n")
    );
    eprintln!(
        "{} alerting rules ({} alert names), {} test groups, {alert_cases} alert cases, \
         {expr_cases} expression cases",
        alerts.values().map(Vec::len).sum::<usize>(),
        alerts.len(),
        groups
    );
}

#[test]
fn every_recording_rule_is_unit_tested_and_every_rule_file_has_tests() {
    let mut tested_exprs = String::new();
    let mut covered_files = BTreeSet::new();
    for (path, file) in rules::test_files() {
        covered_files.extend(test_file_rules(&path, &file));
        for group in &file.tests {
            for case in &group.promql_expr_test {
                tested_exprs.push_str(case["expr"].as_str().unwrap_or_default());
                tested_exprs.push('\n');
            }
        }
        // With recording and alert groups in the same file, promtool must evaluate the
        // recording group first at each step, or an alert reads the previous step's value
        // (and which one promtool picks first varies between runs).
        for rules_path in test_file_rules(&path, &file) {
            let rule_file: rules::RuleFile = rules::read_yaml(&rules_path);
            let names: Vec<&str> = rule_file.groups.iter().map(|g| g.name.as_str()).collect();
            if names.len() > 1 {
                let order: Vec<&str> = file.group_eval_order.iter().map(String::as_str).collect();
                let mut expected = names.clone();
                expected.sort_by_key(|n| !n.ends_with(".rules"));
                assert_eq!(
                    order,
                    expected,
                    "{}: group_eval_order must list the recording groups first",
                    path.display()
                );
            }
        }
    }
    for (path, _) in rules::rule_files() {
        assert!(
            covered_files.contains(&path.canonicalize().unwrap()),
            "{} has no promtool test file",
            path.display()
        );
    }
    let untested: Vec<String> = rules::all_rules()
        .into_iter()
        .filter_map(|(_, _, r)| r.record)
        .filter(|record| {
            !tested_exprs.lines().any(|e| {
                e.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .any(|w| w == record)
            })
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(
        untested.is_empty(),
        "recording rules without a promql_expr_test: {untested:?}"
    );
}
