//! The exporter against a real primary (pg_stat_statements preloaded) and a streaming
//! replica made with pg_basebackup, both started by the harness on free ports.

mod support;

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::Duration;

use aiplatform_testkit::{Scrape, TempDir, host, poll};
use support::{Cluster, exporter, go_exporter, primary};

struct Pair {
    primary: Cluster,
    replica: Cluster,
}

fn clusters() -> &'static Pair {
    static PAIR: OnceLock<Pair> = OnceLock::new();
    PAIR.get_or_init(|| {
        let primary = primary("primary");
        primary.stop_at_exit();
        primary.psql("postgres", "CREATE DATABASE app");
        primary.psql(
            "app",
            "CREATE TABLE items (id int PRIMARY KEY, v text); \
             INSERT INTO items SELECT g, repeat('x', 10) FROM generate_series(1, 1000) g; \
             ANALYZE items; SELECT count(*) FROM items;",
        );
        let replica = Cluster::replica_of(&primary, "replica");
        replica.stop_at_exit();
        let streaming = poll(Duration::from_secs(30), || {
            primary.psql(
                "postgres",
                "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
            ) == "1"
        });
        assert!(streaming, "replica did not start streaming");
        Pair { primary, replica }
    })
}

fn start(cluster: &Cluster, db: &str, args: &[&str]) -> aiplatform_testkit::Exporter {
    exporter(&[("DATA_SOURCE_NAME", &cluster.url(db))], args)
}

#[test]
fn upstream_names_on_the_primary() {
    let pair = clusters();
    // A name of its own, to check the exporter leaves its own connection out.
    let dsn = format!(
        "{}&application_name=pgexp-self-check",
        pair.primary.url("app")
    );
    let e = exporter(&[("DATA_SOURCE_NAME", &dsn)], &[]);
    let s = e.scrape();
    assert_eq!(s.get("pg_up", &[]), Some(1.0), "{}", s.text());
    let server = format!("127.0.0.1:{}", pair.primary.port);
    assert!(
        s.lines_of("pg_static")
            .iter()
            .any(|l| l.contains(&format!("server=\"{server}\""))
                && l.contains("short_version=\"15.")),
        "{:?}",
        s.lines_of("pg_static")
    );
    // Every collector enabled by default succeeded.
    for l in s.lines_of("pg_scrape_collector_success") {
        assert!(l.ends_with(" 1"), "{l}\n{}", e.log());
    }
    assert_eq!(s.get("pg_exporter_last_scrape_error", &[]), Some(0.0));
    // database: sizes and connection limits, every database.
    let dbs: Vec<String> = pair
        .primary
        .psql("postgres", "SELECT datname FROM pg_database ORDER BY 1")
        .lines()
        .map(str::to_owned)
        .collect();
    for db in &dbs {
        assert!(
            s.get("pg_database_size_bytes", &[("datname", db.as_str())])
                .unwrap()
                > 1e6,
            "{db}"
        );
        assert_eq!(
            s.get("pg_database_connection_limit", &[("datname", db.as_str())]),
            Some(-1.0)
        );
    }
    // locks: nine modes zero-filled for every database.
    assert_eq!(s.lines_of("pg_locks_count").len(), 9 * dbs.len());
    assert!(
        s.get(
            "pg_locks_count",
            &[("datname", "template1"), ("mode", "sireadlock")]
        )
        .is_some()
    );
    // stat_activity: six states zero-filled for every database.
    for db in &dbs {
        for state in [
            "active",
            "idle",
            "idle in transaction",
            "idle in transaction (aborted)",
            "fastpath function call",
            "disabled",
        ] {
            let labels = [("datname", db.as_str()), ("state", state)];
            assert!(
                s.get("pg_stat_activity_count", &labels).is_some(),
                "{labels:?}"
            );
            assert!(s.get("pg_stat_activity_max_tx_duration", &labels).is_some());
        }
    }
    // settings: units converted (8kB, min, s, B, kB, MB, ms), bools, HELP.
    assert_eq!(
        s.get("pg_settings_shared_buffers_bytes", &[]),
        Some(134_217_728.0)
    );
    assert_eq!(
        s.get("pg_settings_checkpoint_timeout_seconds", &[]),
        Some(300.0)
    );
    assert_eq!(
        s.get("pg_settings_log_rotation_age_seconds", &[]),
        Some(86_400.0)
    );
    assert_eq!(
        s.get("pg_settings_wal_segment_size_bytes", &[]),
        Some(16_777_216.0)
    );
    assert_eq!(
        s.get("pg_settings_maintenance_work_mem_bytes", &[]),
        Some(67_108_864.0)
    );
    assert_eq!(
        s.get("pg_settings_min_wal_size_bytes", &[]),
        Some(83_886_080.0)
    );
    assert_eq!(
        s.get("pg_settings_deadlock_timeout_seconds", &[]),
        Some(1.0)
    );
    assert_eq!(s.get("pg_settings_fsync", &[]), Some(0.0));
    assert!(s.text().contains("# HELP pg_settings_shared_buffers_bytes Server Parameter: shared_buffers [Units converted to bytes.]"));
    assert_eq!(s.get("pg_exporter_settings_skipped_total", &[]), Some(0.0));
    // stat_database, conflicts (still with server upstream), bgwriter, archiver.
    assert!(
        s.get("pg_stat_database_xact_commit", &[("datname", "app")])
            .unwrap()
            >= 0.0
    );
    assert!(
        s.lines_of("pg_stat_database_xact_commit")
            .iter()
            .all(|l| !l.contains("datname=\"\""))
    );
    assert!(
        s.get(
            "pg_stat_database_active_time_seconds_total",
            &[("datname", "app")]
        )
        .is_some()
    );
    assert!(
        s.lines_of("pg_stat_database_conflicts_confl_lock")
            .iter()
            .all(|l| l.contains(&format!("server=\"{server}\"")))
    );
    assert!(s.get("pg_stat_bgwriter_buffers_alloc_total", &[]).unwrap() > 0.0);
    assert!(s.get("pg_stat_archiver_archived_count", &[]).is_some());
    // stat_replication and replication slots: the replica, by name and slot.
    let rep = s.lines_of("pg_stat_replication_pg_wal_lsn_diff");
    assert_eq!(rep.len(), 1, "{}", s.text());
    assert!(
        rep[0].contains("application_name=\"replica1\"")
            && rep[0].contains("client_addr=\"127.0.0.1\"")
            && rep[0].contains("slot_name=\"replica_slot\"")
            && rep[0].contains("state=\"streaming\""),
        "{}",
        rep[0]
    );
    assert!(
        s.get("pg_stat_replication_pg_current_wal_lsn_bytes", &[])
            .unwrap()
            > 0.0
    );
    assert_eq!(
        s.get(
            "pg_replication_slots_active",
            &[("slot_name", "replica_slot"), ("database", "")]
        ),
        Some(1.0)
    );
    assert_eq!(
        s.get(
            "pg_replication_slots_slot_is_active",
            &[("slot_name", "replica_slot"), ("slot_type", "physical")]
        ),
        Some(1.0)
    );
    assert!(
        s.get(
            "pg_replication_slots_wal_status",
            &[
                ("slot_name", "replica_slot"),
                ("slot_type", "physical"),
                ("wal_status", "reserved")
            ]
        )
        .is_some()
    );
    // replication: a primary.
    assert_eq!(s.get("pg_replication_is_replica", &[]), Some(0.0));
    assert_eq!(s.get("pg_replication_lag_seconds", &[]), Some(0.0));
    assert_eq!(s.get("pg_replication_lag", &[]), Some(0.0));
    // stat_user_tables / statio_user_tables of the connected database.
    let t = [
        ("datname", "app"),
        ("schemaname", "public"),
        ("relname", "items"),
    ];
    assert!(s.get("pg_stat_user_tables_n_live_tup", &t).unwrap() >= 1000.0);
    assert!(s.get("pg_stat_user_tables_table_size_bytes", &t).unwrap() > 8192.0);
    assert!(s.get("pg_stat_user_tables_last_analyze", &t).unwrap() > 1.6e9);
    assert!(s.get("pg_statio_user_tables_heap_blocks_hit", &t).is_some());
    // Not enabled by default.
    assert!(s.get("pg_postmaster_start_time_seconds", &[]).is_none());
    assert!(s.lines_of("pg_stat_statements_calls_total").is_empty());
    // The own connection is not counted upstream-style.
    assert!(
        !s.text().contains("application_name=\"pgexp-self-check\""),
        "own connection listed"
    );
}

#[test]
fn exclude_and_include_databases() {
    let pair = clusters();
    let e = start(
        &pair.primary,
        "postgres",
        &["--exclude-databases=template0,template1"],
    );
    let s = e.scrape();
    assert!(
        s.get("pg_database_size_bytes", &[("datname", "template1")])
            .is_none()
    );
    assert!(
        s.get("pg_database_size_bytes", &[("datname", "app")])
            .is_some()
    );
    drop(e);
    let e = start(&pair.primary, "postgres", &["--include-databases=app"]);
    let s = e.scrape();
    assert_eq!(
        s.lines_of("pg_database_size_bytes").len(),
        1,
        "{:?}",
        s.lines_of("pg_database_size_bytes")
    );
}

#[test]
fn replica_detection_lag_and_recovery() {
    let pair = clusters();
    let e = start(&pair.replica, "postgres", &["--collector.postmaster"]);
    let s = e.scrape();
    assert_eq!(s.get("pg_up", &[]), Some(1.0));
    assert_eq!(s.get("pg_replication_is_replica", &[]), Some(1.0));
    assert!(s.get("pg_postmaster_start_time_seconds", &[]).unwrap() > 1.6e9);
    for l in s.lines_of("pg_scrape_collector_success") {
        assert!(l.ends_with(" 1"), "{l}\n{}", e.log());
    }
    // A transaction replayed since the replica started gives it a replay timestamp.
    pair.primary.psql(
        "app",
        "INSERT INTO items VALUES (100000, 'seen') ON CONFLICT DO NOTHING",
    );
    assert!(poll(Duration::from_secs(20), || {
        pair.replica
            .psql("app", "SELECT count(*) FROM items WHERE id = 100000")
            == "1"
    }));
    // Pause replay, write on the primary: the replica falls behind for real.
    pair.replica
        .psql("postgres", "SELECT pg_wal_replay_pause()");
    pair.primary
        .psql("app", "INSERT INTO items VALUES (100001, 'lag')");
    let primary_exp = start(&pair.primary, "postgres", &[]);
    let behind = poll(Duration::from_secs(20), || {
        let s = e.scrape();
        s.get("pg_replication_lag_seconds", &[]).unwrap_or(0.0) >= 2.0
    });
    let s = e.scrape();
    assert!(
        behind,
        "lag did not grow while replay was paused: {:?}",
        s.lines_of("pg_replication_lag_seconds")
    );
    assert!(s.get("pg_replication_lag", &[]).unwrap() >= 2.0);
    assert!(s.get("pg_replication_last_replay_seconds", &[]).unwrap() >= 2.0);
    let p = primary_exp.scrape();
    assert!(
        p.get(
            "pg_stat_replication_pg_wal_lsn_diff",
            &[("application_name", "replica1")]
        )
        .unwrap()
            > 0.0,
        "{:?}",
        p.lines_of("pg_stat_replication_pg_wal_lsn_diff")
    );
    // Resume: once everything received is replayed, the lag is 0 again.
    pair.replica
        .psql("postgres", "SELECT pg_wal_replay_resume()");
    assert!(poll(Duration::from_secs(20), || e
        .scrape()
        .get("pg_replication_lag_seconds", &[])
        == Some(0.0)));
    pair.primary
        .psql("app", "DELETE FROM items WHERE id >= 100000");
}

#[test]
fn stat_statements_are_bounded_and_in_seconds() {
    let pair = clusters();
    pair.primary
        .psql("postgres", "SELECT pg_stat_statements_reset()");
    for _ in 0..2 {
        pair.primary.psql("app", "SELECT pg_sleep(0.2)");
    }
    for i in 0..5 {
        pair.primary.psql(
            "app",
            &format!("SELECT count(*) FROM items WHERE id > {i} AND v <> 'q{i}'"),
        );
        pair.primary
            .psql("postgres", &format!("SELECT {i} + 1 AS x{i}"));
    }
    let e = start(
        &pair.primary,
        "app",
        &[
            "--collector.stat_statements",
            "--collector.stat_statements.limit=2",
        ],
    );
    let s = e.scrape();
    let calls = s.lines_of("pg_stat_statements_calls_total");
    let ids: BTreeSet<&str> = calls
        .iter()
        .filter_map(|l| l.split("queryid=\"").nth(1)?.split('"').next())
        .collect();
    assert!(ids.contains("other"), "{calls:?}");
    assert!(ids.len() <= 3, "at most 2 statements plus other: {ids:?}");
    // Nothing is lost: the series sum to at least what PostgreSQL had before the scrape.
    let total: f64 = calls
        .iter()
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(total >= 14.0, "{calls:?}");
    // The slowest statement (pg_sleep, 0.2 s per call) is first, in seconds.
    let sleep_mean = s
        .lines_of("pg_stat_statements_mean_exec_time")
        .iter()
        .filter(|l| !l.contains("queryid=\"other\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, f64::max);
    assert!(
        (0.15..1.0).contains(&sleep_mean),
        "mean_exec_time in seconds: {sleep_mean}"
    );
    let max_seconds = s
        .lines_of("pg_stat_statements_seconds_total")
        .iter()
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, f64::max);
    assert!(
        max_seconds >= 0.35,
        "{:?}",
        s.lines_of("pg_stat_statements_seconds_total")
    );
    assert!(
        s.lines_of("pg_scrape_collector_success")
            .iter()
            .all(|l| l.ends_with(" 1")),
        "{}",
        e.log()
    );
}

#[test]
fn custom_queries_file() {
    let pair = clusters();
    let dir = TempDir::new("pgexp-queries");
    let path = dir.write(
        "queries.yaml",
        r#"
pg_custom:
  query: "SELECT 'a' AS kind, 3 AS items, 42::bigint AS seen, 'on' AS mode, '1500ms' AS took, extract(epoch from clock_timestamp()) AS at UNION ALL SELECT 'b', 4, 43, 'off', '2s', 0"
  cache_seconds: 30
  metrics:
    - kind: {usage: LABEL, description: "Kind"}
    - items: {usage: GAUGE, description: "Items now"}
    - seen: {usage: COUNTER, description: "Items seen"}
    - mode: {usage: MAPPEDMETRIC, description: "Mode", metric_mapping: {"on": 1, "off": 0}}
    - took: {usage: DURATION, description: "Time taken"}
    - at: {usage: GAUGE, description: "When the query ran"}
pg_dupes:
  query: "SELECT 'same' AS k, 1 AS v UNION ALL SELECT 'same', 2"
  metrics:
    - k: {usage: LABEL, description: "Key"}
    - v: {usage: GAUGE, description: "Value"}
pg_hist:
  query: "SELECT ARRAY[1, 5, 10] AS wait, ARRAY[1, 2, 4] AS wait_bucket, 30.5 AS wait_sum, 5 AS wait_count"
  metrics:
    - wait: {usage: HISTOGRAM, description: "Wait"}
"#,
    );
    let e = start(
        &pair.primary,
        "app",
        &[&format!("--extend.query-path={}", path.display())],
    );
    let s = e.scrape();
    let address = format!("127.0.0.1:{}", pair.primary.port);
    let server = ("server", address.as_str());
    assert_eq!(
        s.get("pg_custom_items", &[("kind", "a"), server]),
        Some(3.0),
        "{}",
        s.text()
    );
    assert_eq!(
        s.get("pg_custom_seen", &[("kind", "b"), server]),
        Some(43.0)
    );
    assert_eq!(s.get("pg_custom_mode", &[("kind", "a"), server]), Some(1.0));
    assert_eq!(
        s.get("pg_custom_took_milliseconds", &[("kind", "b"), server]),
        Some(2000.0)
    );
    assert_eq!(
        s.get("pg_hist_wait_bucket", &[server, ("le", "5")]),
        Some(2.0),
        "{}",
        s.text()
    );
    assert_eq!(s.get("pg_hist_wait_count", &[server]), Some(5.0));
    // Repeated label sets: one kept, the scrape still succeeds, the drop is counted.
    assert_eq!(s.lines_of("pg_dupes_v").len(), 1);
    assert!(
        s.get(
            "aiplatform_metrics_collect_dropped_series_total",
            &[("reason", "duplicate_series")]
        )
        .unwrap()
            >= 1.0,
        "{}",
        s.text()
    );
    assert_eq!(
        s.get("pg_scrape_collector_success", &[("collector", "queries")]),
        Some(1.0)
    );
    let hash = s.lines_of("pg_exporter_user_queries_load_error");
    assert!(
        hash.len() == 1 && hash[0].ends_with(" 0") && hash[0].contains("hashsum=\""),
        "{hash:?}"
    );
}

#[test]
fn bad_queries_file_is_reported_not_fatal() {
    let pair = clusters();
    let dir = TempDir::new("pgexp-badq");
    let path = dir.write(
        "queries.yaml",
        "pg_x:\n  query: 'SELECT 1 AS v'\n  metrics:\n    - v: {usage: GUAGE}\n",
    );
    let e = start(
        &pair.primary,
        "postgres",
        &[&format!("--extend.query-path={}", path.display())],
    );
    let s = e.scrape();
    assert_eq!(s.get("pg_up", &[]), Some(1.0));
    let l = s.lines_of("pg_exporter_user_queries_load_error");
    assert!(l.len() == 1 && l[0].ends_with(" 1"), "{l:?}");
    let log = e.log();
    assert!(
        log.contains("unknown usage") && log.contains("GUAGE") && log.contains("queries.yaml"),
        "{log}"
    );
}

#[test]
fn probe_needs_an_auth_module_and_an_allowed_target() {
    let pair = clusters();
    let dir = TempDir::new("pgexp-probe");
    let cfg = dir.write(
        "postgres_exporter.yml",
        format!(
            "auth_modules:\n  mon:\n    type: userpass\n    userpass: {{username: secretuser, password: '{}'}}\n    options: {{sslmode: disable, dbname: app}}\n    targets: ['127.0.0.1:{}']\n",
            support::SECRET_PASSWORD,
            pair.primary.port
        ),
    );
    let e = exporter(&[], &[&format!("--config.file={}", cfg.display())]);
    let target = format!("127.0.0.1:{}", pair.primary.port);
    let r = e.get(&format!("/probe?target={target}&auth_module=mon"));
    assert_eq!(r.status, 200, "{}", r.body);
    let s = Scrape::parse(r.body);
    assert_eq!(s.get("pg_up", &[]), Some(1.0), "{}", s.text());
    assert!(
        s.get("pg_database_size_bytes", &[("datname", "app")])
            .is_some()
    );
    assert!(
        s.get("pg_stat_user_tables_n_live_tup", &[("datname", "app")])
            .is_some(),
        "dbname option applied"
    );
    assert!(
        !s.text().contains("promhttp_"),
        "probe output has no exporter self-metrics"
    );
    // The replica is not in the module's targets: its credentials are not sent there.
    let r = e.get(&format!(
        "/probe?target=127.0.0.1:{}&auth_module=mon",
        pair.replica.port
    ));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("not allowed"));
    assert_eq!(e.get(&format!("/probe?target={target}")).status, 400);
    let r = e.get(&format!(
        "/probe?target=secretuser:x@{target}&auth_module=mon"
    ));
    assert_eq!(r.status, 400);
    assert!(!e.log().contains(support::SECRET_PASSWORD));
    // Without auth modules there is no /probe.
    let plain = start(&pair.primary, "postgres", &[]);
    assert_eq!(plain.get(&format!("/probe?target={target}")).status, 404);
}

#[test]
fn debian12_profile_names() {
    let pair = clusters();
    let e = start(
        &pair.primary,
        "app",
        &["--compat=debian12", "--collector.postmaster"],
    );
    let s = e.scrape();
    let address = format!("127.0.0.1:{}", pair.primary.port);
    let at = ("server", address.as_str());
    let server = format!("server=\"{address}\"");
    assert_eq!(
        s.get("pg_replication_lag", &[at]),
        Some(0.0),
        "{}",
        s.text()
    );
    assert!(s.get("pg_replication_lag_seconds", &[]).is_none());
    assert!(
        s.lines_of("pg_stat_database_xact_commit")
            .iter()
            .all(|l| l.contains(&server))
    );
    assert!(
        s.lines_of("pg_stat_database_xact_commit")
            .iter()
            .any(|l| l.contains("datname=\"\"")),
        "0.11 keeps the shared row"
    );
    assert!(
        s.get("pg_stat_database_sessions", &[("datname", "app")])
            .is_some(),
        "0.11 exports unknown columns untyped"
    );
    assert!(
        s.text()
            .contains("# HELP pg_stat_database_sessions Unknown metric from pg_stat_database")
    );
    assert!(
        s.get("pg_database_size_bytes", &[("datname", "app"), at])
            .is_some()
    );
    assert!(s.get("pg_database_connection_limit", &[]).is_none());
    assert!(s.get("pg_settings_shared_buffers_bytes", &[at]).is_some());
    assert!(s.text().contains("# HELP pg_settings_shared_buffers_bytes Sets the number of shared memory buffers used by the server. [Units converted to bytes.]"));
    let items = [
        ("datname", "app"),
        ("schemaname", "public"),
        ("relname", "items"),
        at,
    ];
    assert!(
        s.get("pg_statio_user_tables_heap_blks_hit", &items)
            .is_some()
    );
    assert!(
        s.get("pg_scrape_collector_success", &[("collector", "bgwriter")])
            .is_some()
    );
    assert!(s.get("pg_postmaster_start_time_seconds", &[at]).unwrap() > 1.6e9);
    assert!(
        s.lines_of("pg_scrape_collector_success")
            .iter()
            .all(|l| l.ends_with(" 1")),
        "{}",
        e.log()
    );
}

/// Debian 12's postgres_exporter 0.11.1 and ours with `--compat=debian12` against the same
/// primary: every family (name, type, label names) is the same, except the documented
/// differences below, each with its reason. The test fails on any other difference and on
/// any documented difference that no longer occurs.
#[test]
fn debian12_profile_matches_debian_postgres_exporter() {
    let pair = clusters();
    let dir = TempDir::new("pgexp-compat");
    // Debian's example queries.yaml without pg_stat_statements, whose query uses total_time
    // and fails on PostgreSQL 13 and later (0.11.1 then exports nothing for it).
    let example = std::fs::read_to_string(host::debian_example(
        "prometheus-postgres-exporter",
        "queries.yaml",
    ))
    .expect("Debian's example queries.yaml");
    let cut = example
        .find("# WARNING: This set of metrics")
        .expect("pg_stat_statements section");
    let idle = example
        .find("pg_process_idle:")
        .expect("pg_process_idle section");
    let go_queries = dir.write(
        "go-queries.yaml",
        format!("{}{}", &example[..cut], &example[idle..]),
    );
    // Ours has replication lag, postmaster and the table statistics built in; the idle
    // histogram goes through the same queries-file engine.
    let our_queries = dir.write("our-queries.yaml", &example[idle..]);

    let url = pair.primary.url("app");
    let go = go_exporter(
        &[("DATA_SOURCE_NAME", &url)],
        &[&format!("--extend.query-path={}", go_queries.display())],
    );
    let ours = start(
        &pair.primary,
        "app",
        &[
            "--compat=debian12",
            "--collector.postmaster",
            &format!("--extend.query-path={}", our_queries.display()),
        ],
    );
    let go_scrape = go.scrape();
    let our_scrape = ours.scrape();
    let (gf, of) = (families(&go_scrape), families(&our_scrape));

    let mut differences: Vec<String> = Vec::new();
    for (name, (gt, gl)) in &gf {
        match of.get(name) {
            None => differences.push(format!("missing {name}")),
            Some((ot, ol)) => {
                if gt != ot {
                    differences.push(format!("type {name} {gt}->{ot}"));
                }
                if gl != ol {
                    differences.push(format!("labels {name} {gl:?}->{ol:?}"));
                }
            }
        }
    }
    for name in of.keys().filter(|n| !gf.contains_key(*n)) {
        differences.push(format!("extra {name}"));
    }
    eprintln!(
        "{} families from Go, {} from ours; differences: {differences:#?}",
        gf.len(),
        of.len()
    );
    let mut used = vec![false; EXCEPTIONS.len()];
    let unexplained: Vec<&String> = differences
        .iter()
        .filter(
            |d| match EXCEPTIONS.iter().position(|(matches, _)| matches(d)) {
                Some(i) => {
                    used[i] = true;
                    false
                }
                None => true,
            },
        )
        .collect();
    assert!(
        unexplained.is_empty(),
        "undocumented differences: {unexplained:#?}"
    );
    let stale: Vec<&str> = EXCEPTIONS
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|((_, why), _)| *why)
        .collect();
    assert!(
        stale.is_empty(),
        "documented differences that no longer occur: {stale:#?}"
    );
}

type Families = std::collections::BTreeMap<String, (String, BTreeSet<String>)>;

/// `name -> (type, label names)` of a scrape (`le` and `quantile` are not label names).
fn families(s: &Scrape) -> Families {
    s.families()
        .iter()
        .map(|f| {
            let labels = f.label_names().into_iter().map(str::to_owned).collect();
            (f.name.clone(), (f.kind.text_name().to_owned(), labels))
        })
        .collect()
}

/// The documented differences between Debian's postgres_exporter 0.11.1 and
/// `--compat=debian12`, each a matcher over the difference text and the reason.
/// Whether a difference is the documented one.
type Matcher = fn(&str) -> bool;

const EXCEPTIONS: &[(Matcher, &str)] = &[
    (
        |d| d.starts_with("missing go_"),
        "go_* runtime metrics: a Rust binary has no Go runtime to report (process_* are kept)",
    ),
    (
        |d| d.starts_with("labels postgres_exporter_build_info"),
        "build info: Rust build, so goversion is the rustc version and there is no goos/goarch",
    ),
    (
        |d| d == "extra promhttp_metric_handler_errors_total",
        "the shared server reports promhttp_metric_handler_errors_total (client_golang >= 1.13 does too)",
    ),
    (
        |d| d == "extra pg_exporter_settings_skipped_total",
        "new: pg_settings rows skipped for an unknown unit are counted instead of crashing the exporter",
    ),
];
