//! The Alertmanager configuration: accepted by amtool (templates included), every route
//! tested with `amtool config routes test`, every alert of the rules reaching its team, and
//! inhibition rules that name real alerts.

use std::collections::BTreeSet;

use aiplatform_monitoring::alertmanager::config_path;
use aiplatform_monitoring::process::run_tool;
use aiplatform_monitoring::rules;
use serde_norway::Value;

fn amtool(args: &[&str]) -> (bool, String) {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    run_tool("amtool", "prometheus-alertmanager", &args)
}

fn config() -> Value {
    rules::read_yaml(&config_path())
}

#[test]
fn amtool_accepts_the_configuration_and_its_templates() {
    let path = config_path();
    let (ok, text) = amtool(&["check-config", path.to_str().unwrap()]);
    assert!(ok, "{text}");
    assert!(
        text.contains("1 templates"),
        "the templates were not loaded:\n{text}"
    );
    assert!(text.contains("SUCCESS"), "{text}");
}

/// Asserts that an alert with `labels` is delivered to exactly `receivers`.
fn routes_to(labels: &[&str], receivers: &str) {
    let path = config_path();
    let config = format!("--config.file={}", path.display());
    let verify = format!("--verify.receivers={receivers}");
    let mut args = vec!["config", "routes", "test", config.as_str(), verify.as_str()];
    args.extend_from_slice(labels);
    let (ok, text) = amtool(&args);
    assert!(ok, "{labels:?} should go to {receivers}:\n{text}");
}

#[test]
fn every_route_delivers_where_it_should() {
    // Critical pages on-call and reaches the team; warnings reach the team only.
    routes_to(&["severity=critical", "team=api"], "pager,api-team");
    routes_to(
        &["severity=critical", "team=database"],
        "pager,database-team",
    );
    routes_to(&["severity=critical", "team=platform"], "pager,platform");
    routes_to(&["severity=warning", "team=api"], "api-team");
    routes_to(&["severity=warning", "team=database"], "database-team");
    routes_to(&["severity=warning", "team=platform"], "platform");
    // Without a team: the platform team, the root's receiver.
    routes_to(&["severity=warning", "alertname=Unowned"], "platform");
    routes_to(&["severity=critical", "alertname=Unowned"], "pager");
    // And a wrong expectation is caught (amtool compares, it does not just print).
    let path = config_path();
    let config = format!("--config.file={}", path.display());
    let (ok, _) = amtool(&[
        "config",
        "routes",
        "test",
        &config,
        "--verify.receivers=api-team",
        "severity=critical",
        "team=api",
    ]);
    assert!(!ok, "amtool accepted a wrong receiver list");
}

#[test]
fn every_alert_of_the_rules_reaches_its_team_and_critical_ones_page() {
    let mut checked = 0;
    for (_, _, rule) in rules::all_rules() {
        let Some(alert) = rule.alert else { continue };
        let severity = &rule.labels["severity"];
        let team = &rule.labels["team"];
        let team_receiver = match team.as_str() {
            "platform" => "platform".to_owned(),
            other => format!("{other}-team"),
        };
        let expected = if severity == "critical" {
            format!("pager,{team_receiver}")
        } else {
            team_receiver
        };
        routes_to(
            &[
                &format!("alertname={alert}"),
                &format!("severity={severity}"),
                &format!("team={team}"),
            ],
            &expected,
        );
        checked += 1;
    }
    assert!(checked > 0);
}

#[test]
fn every_receiver_is_used_and_sends_resolved_notifications() {
    let config = config();
    let mut used = BTreeSet::new();
    let mut stack = vec![&config["route"]];
    while let Some(route) = stack.pop() {
        if let Some(r) = route["receiver"].as_str() {
            used.insert(r.to_owned());
        }
        stack.extend(route["routes"].as_sequence().into_iter().flatten());
    }
    for receiver in config["receivers"].as_sequence().unwrap() {
        let name = receiver["name"].as_str().unwrap();
        assert!(used.contains(name), "receiver {name} is never routed to");
        let integrations: Vec<&Value> = ["webhook_configs", "slack_configs"]
            .iter()
            .flat_map(|k| receiver[*k].as_sequence().into_iter().flatten())
            .collect();
        assert!(!integrations.is_empty(), "receiver {name} sends nowhere");
        for integration in integrations {
            assert_eq!(
                integration["send_resolved"], true,
                "{name}: resolved notifications off"
            );
        }
    }
}

#[test]
fn inhibition_rules_name_real_alerts_and_severities() {
    let alerts: BTreeSet<String> = rules::all_rules()
        .into_iter()
        .filter_map(|(_, _, r)| r.alert)
        .collect();
    let config = config();
    let inhibits = config["inhibit_rules"].as_sequence().unwrap();
    assert!(inhibits.len() >= 3);
    for rule in inhibits {
        for side in ["source_matchers", "target_matchers"] {
            for matcher in rule[side].as_sequence().unwrap() {
                let matcher = matcher.as_str().unwrap();
                if let Some(name) = matcher.strip_prefix("alertname=") {
                    let name = name.trim_matches('"');
                    assert!(
                        alerts.contains(name),
                        "inhibition names unknown alert {name}"
                    );
                }
            }
        }
        let equal: Vec<&str> = rule["equal"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            equal.contains(&"cluster"),
            "{rule:?}: without cluster in equal, one cluster's alert silences another's"
        );
    }
}

#[test]
fn a_critical_alert_has_a_higher_threshold_than_its_warning() {
    // Alerts defined at two severities: the critical one must be the stricter condition, or
    // the inhibition (critical silences warning) would hide the wrong one.
    let mut pairs = 0;
    for (name, levels) in rules::alert_thresholds() {
        if levels.len() < 2 {
            continue;
        }
        pairs += 1;
        let warning = levels.iter().find(|(s, _)| s == "warning").unwrap().1;
        let critical = levels.iter().find(|(s, _)| s == "critical").unwrap().1;
        assert!(
            critical > warning,
            "{name}: critical {critical} <= warning {warning}"
        );
    }
    assert!(pairs >= 2);
}
