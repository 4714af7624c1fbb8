//! Against real redis-server processes: auth (password and ACL user), replication on both
//! sides, CONFIG renamed away, keyspace zero-fill, key checks, the cache metrics
//! (memory, keyspace hits and misses) the Redis dashboard and alerts read.

mod common;

use aiplatform_metrics::MetricKind;
use common::*;

fn exporter_for(server: &RedisServer, extra: &[&str], env: &[(&str, &str)]) -> Exporter {
    let addr = format!("-redis.addr={}", server.url());
    let mut args = vec![addr.as_str()];
    args.extend_from_slice(extra);
    exporter(&args, env)
}

#[test]
fn password_and_acl_user_authenticate() {
    let master = RedisServer::master();
    let e = exporter_for(&master, &[], &[("REDIS_PASSWORD", MASTER_PASSWORD)]);
    let m = e.scrape();
    assert_eq!(m.value("redis_up", &[]), 1.0);
    assert_eq!(
        m.value("redis_exporter_last_scrape_error", &[("err", "")]),
        0.0
    );
    assert_eq!(m.label_values("redis_instance_info", "role"), ["master"]);
    assert!(
        m.family("redis_instance_info")
            .label_names()
            .contains("master_replid")
    );

    let user = format!("--redis.user={ACL_USER}");
    let e = exporter_for(&master, &[&user], &[("REDIS_PASSWORD", ACL_PASSWORD)]);
    assert_eq!(e.scrape().value("redis_up", &[]), 1.0);
    let clients = master.cmd(&["CLIENT", "LIST"]);
    assert!(
        clients.contains(&format!("user={ACL_USER}")) && clients.contains("name=redis_exporter"),
        "{clients}"
    );

    // The URI form and a wrong password.
    let uri = format!(
        "-redis.addr=redis://:{MASTER_PASSWORD}@127.0.0.1:{}",
        master.port
    );
    let e = exporter(&[&uri], &[]);
    assert_eq!(e.scrape().value("redis_up", &[]), 1.0);
    let e = exporter_for(&master, &[], &[("REDIS_PASSWORD", "wrong-Pass-Guess")]);
    let m = e.scrape();
    assert_eq!(m.value("redis_up", &[]), 0.0);
    let err = &m.series("redis_exporter_last_scrape_error")[0].labels["err"];
    assert!(
        err.contains("AUTH") && !err.contains("wrong-Pass-Guess"),
        "{err}"
    );
}

#[test]
fn replication_metrics_on_both_sides() {
    let master = RedisServer::master();
    let replica = RedisServer::replica_of(&master);
    replica.wait_until("replica link up", |r| {
        r.cmd(&["INFO", "replication"])
            .contains("master_link_status:up")
    });
    master.cmd(&["SET", "k", "v"]);
    // The replica acknowledges its offset once a second: wait until both sides have one.
    master.wait_until("replica offset acknowledged", |m| {
        let info = m.cmd(&["INFO", "replication"]);
        info.lines()
            .any(|l| l.starts_with("slave0:") && !l.contains("offset=0,"))
    });
    replica.wait_until("replica offset", |r| {
        !r.cmd(&["INFO", "replication"])
            .contains("slave_repl_offset:0\r")
    });

    let e = exporter_for(&replica, &[], &[]);
    let m = e.scrape();
    let port = master.port.to_string();
    let at = [("master_host", "127.0.0.1"), ("master_port", port.as_str())];
    assert_eq!(m.value("redis_master_link_up", &at), 1.0);
    assert_eq!(m.value("redis_master_sync_in_progress", &at), 0.0);
    assert!(m.value("redis_master_last_io_seconds_ago", &at) >= 0.0);
    assert!(m.value("redis_slave_repl_offset", &at) > 0.0);
    assert_eq!(
        m.value(
            "redis_slave_info",
            &[("master_host", "127.0.0.1"), ("read_only", "1")]
        ),
        1.0
    );
    assert_eq!(m.label_values("redis_instance_info", "role"), ["slave"]);

    let e = exporter_for(&master, &[], &[("REDIS_PASSWORD", MASTER_PASSWORD)]);
    let m = e.scrape();
    assert_eq!(m.value("redis_connected_slaves", &[]), 1.0);
    let slave_port = replica.port.to_string();
    let at = [
        ("slave_ip", "127.0.0.1"),
        ("slave_port", slave_port.as_str()),
        ("slave_state", "online"),
    ];
    assert!(m.value("redis_connected_slave_offset_bytes", &at) > 0.0);
    assert!(m.value("redis_connected_slave_lag_seconds", &at) >= 0.0);
    assert!(m.value("redis_master_repl_offset", &[]) > 0.0);
    assert_eq!(
        m.family("redis_replica_resyncs_full").kind,
        MetricKind::Gauge
    );
}

#[test]
fn config_renamed_away_degrades_quietly() {
    let server = RedisServer::config_renamed();
    let e = exporter_for(&server, &[], &[]);
    for _ in 0..3 {
        let m = e.scrape();
        assert_eq!(m.value("redis_up", &[]), 1.0);
        assert!(!m.has("redis_config_maxmemory") && !m.has("redis_config_maxclients"));
        assert_eq!(
            m.series("redis_db_keys").len(),
            16,
            "16 databases assumed without CONFIG"
        );
    }
    let log = e.log();
    assert_eq!(
        log.matches("CONFIG GET is not available").count(),
        1,
        "{log}"
    );
    assert!(!log.to_lowercase().contains("level=error"), "{log}");

    // With CONFIG: the config metrics and the configured database count.
    let plain = RedisServer::start("dbs", &["databases 4".to_owned()], None);
    let m = exporter_for(&plain, &[], &[]).scrape();
    assert_eq!(m.value("redis_config_maxclients", &[]), 10000.0);
    assert!(m.has("redis_config_maxmemory") && m.has("redis_config_io_threads"));
    assert_eq!(m.series("redis_db_keys").len(), 4);
}

#[test]
fn keyspace_is_zero_filled_and_counted() {
    let server = RedisServer::start("keys", &[], None);
    server.cmd(&["SELECT", "3"]);
    for (db, key) in [("3", "user:1"), ("3", "user:2"), ("0", "counter")] {
        let s = &server;
        let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        use std::io::{Read, Write};
        let wire = format!(
            "*2\r\n$6\r\nSELECT\r\n${}\r\n{db}\r\n*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$2\r\n42\r\n*1\r\n$4\r\nQUIT\r\n",
            db.len(),
            key.len()
        );
        c.write_all(wire.as_bytes()).unwrap();
        let mut sink = String::new();
        c.read_to_string(&mut sink).unwrap();
    }
    server.cmd(&["EXPIRE", "counter", "1000"]);
    server.cmd(&["GET", "missing"]);
    server.cmd(&["GET", "counter"]);
    let e = exporter_for(
        &server,
        &[
            "-check-keys=db3=user:*,counter",
            "-count-keys=db3=user:*",
            "-check-single-keys=db0=nokey",
        ],
        &[],
    );
    let m = e.scrape();
    let dbs = m.label_values("redis_db_keys", "db");
    assert_eq!(dbs.len(), 16);
    assert_eq!(m.value("redis_db_keys", &[("db", "db3")]), 2.0);
    assert_eq!(m.value("redis_db_keys", &[("db", "db7")]), 0.0);
    assert_eq!(m.value("redis_db_keys_expiring", &[("db", "db0")]), 1.0);
    assert_eq!(m.value("redis_db_keys_expiring", &[("db", "db15")]), 0.0);
    assert!(m.has("redis_db_avg_ttl_seconds"));
    assert_eq!(
        m.value("redis_key_size", &[("db", "db3"), ("key", "user:1")]),
        2.0
    );
    assert_eq!(
        m.value("redis_key_value", &[("db", "db0"), ("key", "counter")]),
        42.0
    );
    assert_eq!(
        m.value("redis_key_size", &[("db", "db0"), ("key", "nokey")]),
        0.0
    );
    assert_eq!(
        m.value("redis_keys_count", &[("db", "db3"), ("key", "user:*")]),
        2.0
    );
    // The cache metrics the Redis dashboard and alerts read (memory, hit ratio).
    assert!(m.value("redis_memory_used_bytes", &[]) > 0.0);
    assert!(m.value("redis_keyspace_hits_total", &[]) >= 1.0);
    assert!(m.value("redis_keyspace_misses_total", &[]) >= 1.0);
    assert_eq!(
        m.family("redis_evicted_keys_total").kind,
        MetricKind::Counter
    );
    assert_eq!(
        m.family("redis_memory_used_bytes").help,
        "memory_used_bytes metric"
    );
    assert!(m.value("redis_commands_total", &[("cmd", "set")]) >= 3.0);
    assert!(m.has("redis_commands_duration_seconds_total"));
    assert!(
        m.has("redis_commands_rejected_calls_total") && m.has("redis_commands_failed_calls_total")
    );
    assert_eq!(
        m.family("redis_latency_percentiles_usec").kind,
        MetricKind::Summary
    );
    server.cmd(&["NOSUCHCOMMAND"]);
    assert!(e.scrape().value("redis_errors_total", &[("err", "ERR")]) >= 1.0);
}

#[test]
fn slowlog_and_latency_events() {
    let server = RedisServer::start(
        "slow",
        &[
            "slowlog-log-slower-than 0".to_owned(),
            "latency-monitor-threshold 1".to_owned(),
            "enable-debug-command yes".to_owned(),
        ],
        None,
    );
    server.cmd(&["DEBUG", "SLEEP", "0.05"]);
    let m = exporter_for(&server, &[], &[]).scrape();
    assert!(m.value("redis_slowlog_length", &[]) >= 1.0);
    assert!(m.value("redis_slowlog_last_id", &[]) >= 0.0);
    assert!(m.value("redis_last_slow_execution_duration_seconds", &[]) >= 0.0);
    assert!(
        m.value(
            "redis_latency_spike_duration_seconds",
            &[("event_name", "command")]
        ) >= 0.04
    );
    assert!(m.value("redis_latency_spike_last", &[("event_name", "command")]) > 1.6e9);
}

#[test]
fn debian12_profile_has_the_old_label_set() {
    let server = RedisServer::start("compat", &[], None);
    let m = exporter_for(&server, &["--compat=debian12"], &[]).scrape();
    assert!(
        !m.family("redis_instance_info")
            .label_names()
            .contains("master_replid")
    );
    assert!(!m.has("redis_max_clients"));
    assert_eq!(
        m.family("redis_expired_time_cap_reached_total").kind,
        MetricKind::Gauge
    );
    let m = exporter_for(&server, &[], &[]).scrape();
    assert!(
        m.family("redis_instance_info")
            .label_names()
            .contains("master_replid")
    );
    assert_eq!(m.value("redis_max_clients", &[]), 10000.0);
    assert_eq!(
        m.family("redis_expired_time_cap_reached_total").kind,
        MetricKind::Counter
    );
}

#[test]
fn persistent_connection_is_reused_and_optional() {
    let server = RedisServer::start("persist", &[], None);
    let received = |s: &RedisServer| -> u64 {
        let info = s.cmd(&["INFO", "stats"]);
        info.lines()
            .find_map(|l| l.strip_prefix("total_connections_received:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let e = exporter_for(&server, &[], &[]);
    let before = received(&server);
    for _ in 0..5 {
        let m = e.scrape();
        assert!(m.value("redis_exporter_last_scrape_connect_time_seconds", &[]) > 0.0);
    }
    // Five scrapes on one connection (the harness's own connection counts once).
    assert!(
        received(&server) - before <= 2,
        "persistent connection not reused"
    );

    let e = exporter_for(&server, &["-persistent-connection=false"], &[]);
    let before = received(&server);
    for _ in 0..5 {
        e.scrape();
    }
    assert!(
        received(&server) - before >= 5,
        "a connection per scrape expected"
    );
}

#[test]
fn unix_socket_and_optional_metrics() {
    let dir = TempDir::new("sock");
    let sock = dir.join("redis.sock");
    let server = RedisServer::start(
        "unix",
        &[
            format!("unixsocket {}", sock.display()),
            "unixsocketperm 700".to_owned(),
        ],
        None,
    );
    let addr = format!("-redis.addr=unix://{}", sock.display());
    let m = exporter(&[&addr, "-include-system-metrics", "-ping-on-connect"], &[]).scrape();
    assert_eq!(m.value("redis_up", &[]), 1.0);
    assert!(m.value("redis_total_system_memory_bytes", &[]) > 0.0);
    assert!(m.value("redis_exporter_last_scrape_ping_time_seconds", &[]) > 0.0);
    assert_eq!(m.value("redis_config_maxclients", &[]), 10000.0);
    // -config-command=- skips CONFIG entirely.
    let m = exporter(&[&addr, "-config-command=-"], &[]).scrape();
    assert_eq!(m.value("redis_up", &[]), 1.0);
    assert!(!m.has("redis_config_maxclients"));
    assert!(
        !m.has("redis_total_system_memory_bytes"),
        "system metrics are opt-in"
    );
    drop(server);
}

#[test]
fn kept_connection_returns_to_its_database_after_key_checks() {
    let server = RedisServer::start("selectdb", &[], None);
    let addr = format!("-redis.addr={}/2", server.url());
    let e = exporter(
        &[&addr, "-check-keys=db5=some:*", "-count-keys=db7=x*"],
        &[],
    );
    let m = e.scrape();
    assert_eq!(m.value("redis_up", &[]), 1.0);
    let clients = server.cmd(&["CLIENT", "LIST"]);
    let ours = clients
        .lines()
        .find(|l| l.contains("name=redis_exporter"))
        .expect("exporter connection");
    assert!(ours.contains(" db=2 "), "{ours}");
}
