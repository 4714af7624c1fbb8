//! Debian 12's redis_exporter 1.45.0 and this exporter with `--compat=debian12`, against the
//! same Redis servers: every family (name, type, label names) must match, except the
//! documented differences below.

mod common;

use std::collections::BTreeSet;

use common::*;

/// The differences, each with its reason. `(family, what)`: `extra` (only ours), `missing`
/// (only Go's), or `type go->ours`.
const DOCUMENTED: &[(&str, &str, &str)] = &[
    // The shared scrape server instruments its handler with client_golang's promhttp names;
    // redis_exporter 1.45 serves an uninstrumented handler.
    (
        "promhttp_metric_handler_errors_total",
        "extra",
        "shared server self-metrics",
    ),
    (
        "promhttp_metric_handler_requests_in_flight",
        "extra",
        "shared server self-metrics",
    ),
    (
        "promhttp_metric_handler_requests_total",
        "extra",
        "shared server self-metrics",
    ),
];

fn differences(go: &Scrape, ours: &Scrape) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let names: BTreeSet<&String> = go
        .families()
        .iter()
        .chain(ours.families())
        .map(|f| &f.name)
        .collect();
    for name in names {
        if name.starts_with("go_") {
            continue; // Go runtime metrics: no honest Rust equivalent (checked separately).
        }
        let find = |e: &'_ Scrape| e.has(name).then(|| e.family(name).clone());
        match (find(go), find(ours)) {
            (Some(_), None) => {
                out.insert((name.clone(), "missing".to_owned()));
            }
            (None, Some(_)) => {
                out.insert((name.clone(), "extra".to_owned()));
            }
            (Some(g), Some(o)) => {
                if g.kind != o.kind {
                    out.insert((
                        name.clone(),
                        format!("type {}->{}", g.kind.text_name(), o.kind.text_name()),
                    ));
                }
                if g.label_names() != o.label_names() {
                    out.insert((
                        name.clone(),
                        format!("labels {:?}->{:?}", g.label_names(), o.label_names()),
                    ));
                }
            }
            (None, None) => unreachable!(),
        }
    }
    out
}

fn compare(server: &RedisServer, password: Option<&str>) -> (Scrape, Scrape) {
    let addr = format!("-redis.addr={}", server.url());
    let env: Vec<(&str, &str)> = password
        .map(|p| ("REDIS_PASSWORD", p))
        .into_iter()
        .collect();
    let go = go_exporter(&[&addr], &env);
    let ours = exporter(&[&addr, "--compat=debian12"], &env);
    // Two scrapes each, so counters of the exporters' own commands exist in both.
    let _ = (go.scrape(), ours.scrape());
    (go.scrape(), ours.scrape())
}

#[test]
fn families_match_debian12_redis_exporter() {
    let master = RedisServer::master();
    let replica = RedisServer::replica_of(&master);
    replica.wait_until("replica link up", |r| {
        r.cmd(&["INFO", "replication"])
            .contains("master_link_status:up")
    });
    master.cmd(&["SET", "a", "1", "EX", "1000"]);
    master.cmd(&["NOSUCHCOMMAND"]);
    replica.wait_until("key replicated", |r| r.cmd(&["DBSIZE"]).contains(":1"));

    let documented: BTreeSet<(String, String)> = DOCUMENTED
        .iter()
        .map(|(n, w, _)| ((*n).to_owned(), (*w).to_owned()))
        .collect();
    let mut seen = BTreeSet::new();
    for (server, pw) in [(&master, Some(MASTER_PASSWORD)), (&replica, None)] {
        let (go, ours) = compare(server, pw);
        assert!(
            go.families().iter().any(|f| f.name.starts_with("go_")),
            "the Go exporter exports go_* metrics"
        );
        assert!(!ours.families().iter().any(|f| f.name.starts_with("go_")));
        assert_eq!(go.value("redis_up", &[]), 1.0);
        assert_eq!(ours.value("redis_up", &[]), 1.0);
        let diff = differences(&go, &ours);
        let undocumented: Vec<_> = diff.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "undocumented differences against redis_exporter 1.45.0: {undocumented:#?}"
        );
        // HELP texts match too, where both have the family.
        for g in go.families() {
            if ours.has(&g.name) && !g.name.starts_with("process_") {
                assert_eq!(g.help, ours.family(&g.name).help, "HELP of {}", g.name);
            }
        }
        seen.extend(diff);
    }
    let stale: Vec<_> = documented.difference(&seen).collect();
    assert!(
        stale.is_empty(),
        "documented differences that no longer occur: {stale:#?}"
    );
}
