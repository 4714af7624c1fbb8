//! The shipped Alertmanager configuration in a real Alertmanager (Debian's 0.25): alerts
//! posted to its API reach the right receivers with the templates rendered, inhibition
//! silences what it should and nothing else, and resolved alerts are announced.

use std::time::Duration;

use aiplatform_monitoring::alertmanager::{self, Alertmanager, labels};
use aiplatform_monitoring::process::wait_for;
use aiplatform_monitoring::webhook::Recorder;
use serde_json::{Value, json};

fn alert(pairs: &[(&str, &str)], summary: &str) -> Value {
    json!({
        "labels": labels(pairs),
        "annotations": {
            "summary": summary,
            "description": format!("{summary} (test)"),
            "runbook_url": "https://github.com/aiplatform/observability/blob/main/monitoring/RUNBOOK.md#test",
        },
    })
}

fn start(tag: &str) -> (Alertmanager, Recorder, std::path::PathBuf) {
    let recorder = Recorder::start();
    let dir = std::env::temp_dir().join(format!("aiplatform-am-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let shipped = std::fs::read_to_string(alertmanager::config_path()).unwrap();
    let config = alertmanager::for_localhost(&shipped, recorder.base_url(), "1s").unwrap();
    (Alertmanager::start(&config, &dir), recorder, dir)
}

/// The `status.inhibitedBy` of the alert with `alertname` and `severity` (and `job`, if
/// given), once Alertmanager has processed it.
fn inhibited(am: &Alertmanager, alertname: &str, extra: &[(&str, &str)]) -> bool {
    wait_for(
        Duration::from_secs(10),
        &format!("{alertname} in Alertmanager"),
        || {
            am.alerts()
                .into_iter()
                .find(|a| {
                    a["labels"]["alertname"] == alertname
                        && extra.iter().all(|(k, v)| a["labels"][*k] == *v)
                })
                .map(|a| {
                    a["status"]["inhibitedBy"]
                        .as_array()
                        .is_some_and(|by| !by.is_empty())
                })
                .ok_or_else(|| "not listed yet".to_owned())
        },
    )
}

#[test]
fn alerts_reach_their_receivers_rendered_and_resolve() {
    let (am, recorder, dir) = start("routes");
    let firing = alert(
        &[
            ("alertname", "APIHighErrorRate"),
            ("severity", "critical"),
            ("team", "api"),
            ("cluster", "test"),
            ("job", "aiplatform-api"),
        ],
        "API error rate above 5%",
    );
    am.post_alerts(&json!([firing]));

    // The team's webhook gets Alertmanager's JSON; on-call gets it through Slack, rendered.
    let hook = wait_for(Duration::from_secs(20), "the api-team webhook", || {
        recorder
            .deliveries_to("/alerts/api")
            .into_iter()
            .next()
            .ok_or_else(|| format!("received: {:?}", recorder.deliveries()))
    });
    assert_eq!(hook.body["status"], "firing");
    assert_eq!(hook.body["receiver"], "api-team");
    assert_eq!(
        hook.body["alerts"][0]["labels"]["alertname"],
        "APIHighErrorRate"
    );
    wait_for(Duration::from_secs(20), "the pager webhook", || {
        (!recorder.deliveries_to("/alerts/pager").is_empty())
            .then_some(())
            .ok_or_else(|| "not yet".to_owned())
    });
    let slack = wait_for(Duration::from_secs(20), "the Slack page", || {
        recorder
            .deliveries_to("/slack")
            .into_iter()
            .next()
            .ok_or_else(|| "not yet".to_owned())
    });
    let attachment = &slack.body["attachments"][0];
    assert_eq!(slack.body["channel"], "#aiplatform-oncall");
    assert_eq!(
        attachment["title"],
        "[FIRING:1] APIHighErrorRate (critical, test)"
    );
    assert_eq!(attachment["color"], "danger");
    assert_eq!(attachment["fallback"], attachment["title"]);
    assert_eq!(
        attachment["title_link"],
        "https://github.com/aiplatform/observability/blob/main/monitoring/RUNBOOK.md#test"
    );
    let text = attachment["text"].as_str().unwrap();
    for part in [
        "*API error rate above 5%*",
        "API error rate above 5% (test)",
        "`cluster=test`",
        "`job=aiplatform-api`",
        "UTC",
        "|runbook>",
    ] {
        assert!(text.contains(part), "Slack text lacks {part:?}:\n{text}");
    }
    assert!(
        !text.contains("`severity="),
        "severity is in the title already:\n{text}"
    );
    // Nothing for the other teams.
    assert!(recorder.deliveries_to("/alerts/database").is_empty());
    assert!(recorder.deliveries_to("/alerts/platform").is_empty());

    // Resolve it: endsAt in the past.
    let mut resolved = firing.clone();
    resolved["endsAt"] = json!("2020-01-01T00:00:00Z");
    am.post_alerts(&json!([resolved]));
    wait_for(Duration::from_secs(20), "the resolved notification", || {
        let api = recorder.deliveries_to("/alerts/api");
        let slack = recorder.deliveries_to("/slack");
        let hook_ok = api.iter().any(|d| d.body["status"] == "resolved");
        let slack_ok = slack.iter().any(|d| {
            d.body["attachments"][0]["color"] == "good"
                && d.body["attachments"][0]["title"]
                    == "[RESOLVED] APIHighErrorRate (critical, test)"
        });
        (hook_ok && slack_ok)
            .then_some(())
            .ok_or_else(|| format!("api: {api:?}\nslack: {slack:?}"))
    });
    drop(am);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn inhibition_silences_redundant_alerts_and_only_those() {
    let (am, recorder, dir) = start("inhibition");
    let disk = |severity| {
        alert(
            &[
                ("alertname", "HostHighDiskUsage"),
                ("severity", severity),
                ("team", "platform"),
                ("cluster", "test"),
                ("job", "node"),
                ("instance", "node-a"),
                ("mountpoint", "/"),
            ],
            "Filesystem full",
        )
    };
    let other_mount = alert(
        &[
            ("alertname", "HostHighDiskUsage"),
            ("severity", "warning"),
            ("team", "platform"),
            ("cluster", "test"),
            ("job", "node"),
            ("instance", "node-a"),
            ("mountpoint", "/var"),
        ],
        "Filesystem full",
    );
    let latency = |cluster| {
        alert(
            &[
                ("alertname", "APIHighLatency"),
                ("severity", "warning"),
                ("team", "api"),
                ("cluster", cluster),
                ("job", "aiplatform-api"),
                ("quantile", "0.95"),
            ],
            "API p95 latency above 1s",
        )
    };
    let pg_down = alert(
        &[
            ("alertname", "PostgreSQLDown"),
            ("severity", "critical"),
            ("team", "database"),
            ("cluster", "test"),
            ("job", "postgres"),
            ("instance", "postgres-exporter:9187"),
        ],
        "PostgreSQL is unreachable",
    );
    let target_down = |job| {
        alert(
            &[
                ("alertname", "TargetDown"),
                ("severity", "warning"),
                ("team", "platform"),
                ("cluster", "test"),
                ("job", job),
                ("instance", "x:1"),
            ],
            "Scrape target down",
        )
    };
    let api_down = alert(
        &[
            ("alertname", "APIDown"),
            ("severity", "critical"),
            ("team", "api"),
            ("cluster", "test"),
            ("job", "aiplatform-api"),
        ],
        "No AI Platform API replica is up",
    );
    am.post_alerts(&json!([
        disk("warning"),
        disk("critical"),
        other_mount,
        latency("test"),
        latency("other-cluster"),
        pg_down,
        target_down("aiplatform-api"),
        target_down("redis"),
        api_down,
    ]));

    // A critical alert silences its own warning on the same mount, not on another.
    assert!(inhibited(
        &am,
        "HostHighDiskUsage",
        &[("severity", "warning"), ("mountpoint", "/")]
    ));
    assert!(!inhibited(
        &am,
        "HostHighDiskUsage",
        &[("severity", "critical")]
    ));
    assert!(!inhibited(
        &am,
        "HostHighDiskUsage",
        &[("mountpoint", "/var")]
    ));
    // PostgreSQL down silences API latency in its cluster, not in another.
    assert!(inhibited(&am, "APIHighLatency", &[("cluster", "test")]));
    assert!(!inhibited(
        &am,
        "APIHighLatency",
        &[("cluster", "other-cluster")]
    ));
    // APIDown silences the API's TargetDown, not another job's.
    assert!(inhibited(&am, "TargetDown", &[("job", "aiplatform-api")]));
    assert!(!inhibited(&am, "TargetDown", &[("job", "redis")]));

    // What was silenced never reaches a receiver.
    wait_for(
        Duration::from_secs(20),
        "the platform notifications",
        || {
            let platform = recorder.deliveries_to("/alerts/platform");
            let delivered: Vec<(String, String)> = platform
                .iter()
                .flat_map(|d| d.body["alerts"].as_array().cloned().unwrap_or_default())
                .map(|a| {
                    (
                        a["labels"]["alertname"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        format!(
                            "{}{}",
                            a["labels"]["severity"].as_str().unwrap_or_default(),
                            a["labels"]["mountpoint"].as_str().unwrap_or_default()
                        ),
                    )
                })
                .collect();
            let want = [
                ("HostHighDiskUsage".to_owned(), "critical/".to_owned()),
                ("HostHighDiskUsage".to_owned(), "warning/var".to_owned()),
                ("TargetDown".to_owned(), "warning".to_owned()),
            ];
            let silenced_arrived =
                delivered.contains(&("HostHighDiskUsage".into(), "warning/".into()));
            assert!(
                !silenced_arrived,
                "an inhibited alert was delivered: {delivered:?}"
            );
            want.iter()
                .all(|w| delivered.contains(w))
                .then_some(())
                .ok_or_else(|| format!("delivered so far: {delivered:?}"))
        },
    );
    let api_team: Vec<Value> = recorder
        .deliveries_to("/alerts/api")
        .iter()
        .flat_map(|d| d.body["alerts"].as_array().cloned().unwrap_or_default())
        .collect();
    assert!(
        !api_team
            .iter()
            .any(|a| a["labels"]["alertname"] == "APIHighLatency"
                && a["labels"]["cluster"] == "test"),
        "the inhibited latency alert reached the API team: {api_team:?}"
    );
    drop(am);
    let _ = std::fs::remove_dir_all(dir);
}
