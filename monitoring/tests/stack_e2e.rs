//! The monitoring stack end to end, from the shipped files (local variant): Debian's
//! Prometheus, Alertmanager and Pushgateway, our API and exporters against the machine's
//! PostgreSQL and Redis, and a throwaway PostgreSQL cluster.
//!
//! 1. every target is up;
//! 2. every recording rule outside Kubernetes returns data, and so does every query of every
//!    dashboard but the Kubernetes one (its variables resolved from Prometheus, as Grafana
//!    does);
//! 3. 5xx responses driven through the API raise APIHighErrorRate, which reaches the API
//!    team's webhook and the on-call Slack page through Alertmanager, then resolves once
//!    clean traffic dilutes the errors;
//! 4. stopping the throwaway cluster raises PostgreSQLDown, delivered to the database team and
//!    on-call, and starting it again resolves it.
//!
//! The rules' `for:` is shortened to 2s in the copy Prometheus loads (their real durations
//! are covered by the promtool unit tests); scrapes and evaluations run every second.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aiplatform_monitoring::grafana::{self, label_values, substitute, variable_query};
use aiplatform_monitoring::process::wait_for;
use aiplatform_monitoring::rules;
use aiplatform_monitoring::stack::{Stack, THROWAWAY_POSTGRES_INSTANCE};
use aiplatform_monitoring::webhook::Delivery;
use serde_json::Value;

/// The dashboard whose queries read Kubernetes-only exporters.
const KUBERNETES_DASHBOARD: &str = "aiplatform-kubernetes";

/// Alerts (and their labels) in the deliveries to `path`, with the notification's status.
fn alerts_in(deliveries: &[Delivery]) -> Vec<(String, Value)> {
    deliveries
        .iter()
        .flat_map(|d| d.body["alerts"].as_array().cloned().unwrap_or_default())
        .map(|a| {
            (
                a["status"].as_str().unwrap_or_default().to_owned(),
                a["labels"].clone(),
            )
        })
        .collect()
}

fn wait_delivery(
    stack: &Stack,
    path: &str,
    alertname: &str,
    status: &str,
    limit: Duration,
) -> Value {
    wait_for(limit, &format!("{alertname} {status} at {path}"), || {
        alerts_in(&stack.recorder.deliveries_to(path))
            .into_iter()
            .find(|(s, labels)| s == status && labels["alertname"] == alertname)
            .map(|(_, labels)| labels)
            .ok_or_else(|| {
                format!(
                    "received so far: {:?}",
                    alerts_in(&stack.recorder.deliveries())
                        .iter()
                        .map(|(s, l)| format!("{} {s}", l["alertname"]))
                        .collect::<Vec<_>>()
                )
            })
    })
}

/// Resolves a dashboard's variables the way Grafana does on load: each query variable's
/// values from Prometheus (earlier variables substituted first); "All" (the regex
/// `allValue`) where the variable offers it, else the first value.
fn resolve_variables(stack: &Stack, dashboard: &grafana::Dashboard) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for variable in dashboard.variables() {
        if variable["type"] != "query" {
            continue;
        }
        let name = variable["name"].as_str().unwrap().to_owned();
        let query = substitute(&variable_query(variable), "1m", &values);
        let (selector, label) = label_values(&query)
            .unwrap_or_else(|| panic!("{}: variable {name}: not label_values()", dashboard.name()));
        let found = wait_for(
            Duration::from_secs(30),
            &format!("values of ${name} on {}", dashboard.name()),
            || match stack.label_values(&selector, &label) {
                Ok(v) if !v.is_empty() => Ok(v),
                Ok(_) => Err(format!("{query} has no values")),
                Err(e) => Err(e),
            },
        );
        let value = match variable["allValue"].as_str() {
            Some(all) if variable["includeAll"] == true => all.to_owned(),
            _ => found[0].clone(),
        };
        values.insert(name, value);
    }
    values
}

#[test]
fn the_stack_scrapes_everything_records_everything_and_delivers_alerts_that_resolve() {
    let started = Instant::now();
    let stack = Stack::start("e2e", Some("2s"));

    // 1. Every target up.
    let targets = stack.wait_targets_up(Duration::from_secs(60));
    let jobs: BTreeSet<String> = targets
        .iter()
        .map(|t| t["labels"]["job"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        jobs,
        [
            "aiplatform-api",
            "alertmanager",
            "node",
            "postgres",
            "prometheus",
            "pushgateway",
            "redis"
        ]
        .map(str::to_owned)
        .into(),
        "grafana is the only local job not run here"
    );
    eprintln!("{} targets up in {:?}", targets.len(), started.elapsed());

    // 2. Data for every recording rule and every non-Kubernetes dashboard query.
    stack.api_traffic(80, 0.0);
    stack.redis_traffic();
    let mut recorded = BTreeSet::new();
    for (_, group, rule) in rules::all_rules() {
        if let Some(record) = rule.record
            && !group.starts_with("kubernetes")
        {
            recorded.insert(record);
        }
    }
    for record in &recorded {
        wait_for(
            Duration::from_secs(60),
            &format!("{record} to have data"),
            || {
                let result = stack.query(record)?;
                (!result.is_empty())
                    .then_some(())
                    .ok_or_else(|| "no series".to_owned())
            },
        );
    }
    eprintln!(
        "{} recording rules return data ({:?})",
        recorded.len(),
        started.elapsed()
    );

    let mut verified = 0;
    let mut per_dashboard = Vec::new();
    for dashboard in grafana::dashboards() {
        if dashboard.uid() == KUBERNETES_DASHBOARD {
            continue;
        }
        let values = resolve_variables(&stack, &dashboard);
        let mut count = 0;
        for query in dashboard.queries() {
            let expr = substitute(&query.expr, "1m", &values);
            let at = format!("{} {}", dashboard.name(), query.origin);
            wait_for(
                Duration::from_secs(30),
                &format!("data for {at}: {expr}"),
                || {
                    let result = stack.query(&expr)?;
                    (!result.is_empty())
                        .then_some(())
                        .ok_or_else(|| "empty result".to_owned())
                },
            );
            count += 1;
        }
        verified += count;
        per_dashboard.push(format!("{} {count}", dashboard.uid()));
    }
    eprintln!(
        "{verified} dashboard queries return data ({}) ({:?})",
        per_dashboard.join(", "),
        started.elapsed()
    );

    // 3. API errors: 5xx through the API until the alert reaches its receivers. Spread over a
    //    few scrapes: the 503 series is new, and rate() cannot count what happened before
    //    its first sample (a burst that creates a series is invisible to it).
    let phase = Instant::now();
    for _ in 0..8 {
        stack.api_traffic(25, 1.0);
        std::thread::sleep(Duration::from_millis(500));
    }
    let labels = wait_delivery(
        &stack,
        "/alerts/api",
        "APIHighErrorRate",
        "firing",
        Duration::from_secs(60),
    );
    assert_eq!(labels["job"], "aiplatform-api");
    assert_eq!(labels["severity"], "critical");
    assert_eq!(
        labels["cluster"], "aiplatform",
        "external label from the configuration"
    );
    wait_delivery(
        &stack,
        "/alerts/pager",
        "APIHighErrorRate",
        "firing",
        Duration::from_secs(30),
    );
    wait_for(
        Duration::from_secs(30),
        "the Slack page for APIHighErrorRate",
        || {
            stack
                .recorder
                .deliveries_to("/slack")
                .iter()
                .find(|d| {
                    d.body["attachments"][0]["title"]
                        == "[FIRING:1] APIHighErrorRate (critical, aiplatform)"
                })
                .map(|_| ())
                .ok_or_else(|| "not yet".to_owned())
        },
    );
    eprintln!(
        "APIHighErrorRate delivered {:?} after the first 5xx",
        phase.elapsed()
    );
    // Clean traffic until the errors are under 5% of the 5-minute window (about 175 counted
    // errors: 6000 good requests, from four clients).
    let phase = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| stack.api_traffic(1500, 0.0));
        }
    });
    wait_delivery(
        &stack,
        "/alerts/api",
        "APIHighErrorRate",
        "resolved",
        Duration::from_secs(90),
    );
    eprintln!(
        "APIHighErrorRate resolved {:?} after clean traffic began",
        phase.elapsed()
    );

    // 4. PostgreSQL down: stop the throwaway cluster, then start it again.
    let phase = Instant::now();
    stack.cluster.stop();
    let labels = wait_delivery(
        &stack,
        "/alerts/database",
        "PostgreSQLDown",
        "firing",
        Duration::from_secs(60),
    );
    assert_eq!(labels["instance"], THROWAWAY_POSTGRES_INSTANCE);
    assert_eq!(labels["severity"], "critical");
    wait_delivery(
        &stack,
        "/alerts/pager",
        "PostgreSQLDown",
        "firing",
        Duration::from_secs(30),
    );
    eprintln!(
        "PostgreSQLDown delivered {:?} after the stop",
        phase.elapsed()
    );
    let phase = Instant::now();
    stack.cluster.start();
    wait_delivery(
        &stack,
        "/alerts/database",
        "PostgreSQLDown",
        "resolved",
        Duration::from_secs(60),
    );
    eprintln!(
        "PostgreSQLDown resolved {:?} after the restart",
        phase.elapsed()
    );

    // Nothing else paged or warned because of a guard that failed on this real host: no
    // target was down, and no in-memory, image or read-only filesystem counted as full.
    let delivered = alerts_in(&stack.recorder.deliveries());
    let names: BTreeSet<String> = delivered
        .iter()
        .map(|(_, l)| l["alertname"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        !names.contains("TargetDown"),
        "a target went down: {delivered:?}"
    );
    for (_, labels) in &delivered {
        if labels["alertname"] == "HostHighDiskUsage" {
            let fstype = labels["fstype"].as_str().unwrap_or_default();
            assert!(
                !["tmpfs", "squashfs", "overlay", "ramfs"].contains(&fstype),
                "HostHighDiskUsage fired on {labels}"
            );
        }
    }
    eprintln!("alerts delivered: {names:?}; total {:?}", started.elapsed());
}
