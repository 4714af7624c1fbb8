//! Basic cases against the machine's PostgreSQL on 127.0.0.1:5432 (trust auth, databases
//! `test`, `root` and `postgres`), as the development and CI machines run it.

mod support;

use std::net::TcpStream;

use support::exporter;

fn require_local_postgres() {
    assert!(
        TcpStream::connect("127.0.0.1:5432").is_ok(),
        "PostgreSQL is not listening on 127.0.0.1:5432: start it with scripts/test.sh (or pg_ctlcluster 15 main start)"
    );
}

#[test]
fn scrapes_the_machines_postgres() {
    require_local_postgres();
    let e = exporter(
        &[(
            "DATA_SOURCE_NAME",
            "postgresql://postgres@127.0.0.1:5432/postgres?sslmode=disable",
        )],
        &[],
    );
    let s = e.scrape();
    assert_eq!(s.get("pg_up", &[]), Some(1.0), "{}", e.log());
    for db in ["test", "root", "postgres"] {
        assert!(
            s.get("pg_database_size_bytes", &[("datname", db)])
                .is_some(),
            "{db}"
        );
        assert!(
            s.get(
                "pg_stat_activity_count",
                &[("datname", db), ("state", "idle")]
            )
            .is_some(),
            "{db}"
        );
    }
    assert!(
        s.lines_of("pg_scrape_collector_success")
            .iter()
            .all(|l| l.ends_with(" 1")),
        "{}",
        e.log()
    );
}

#[test]
fn key_value_dsn_and_debian12_profile() {
    require_local_postgres();
    let e = exporter(
        &[(
            "DATA_SOURCE_NAME",
            "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable",
        )],
        &["--compat=debian12"],
    );
    let s = e.scrape();
    assert_eq!(s.get("pg_up", &[]), Some(1.0));
    assert!(
        s.get(
            "pg_database_size_bytes",
            &[("datname", "root"), ("server", "127.0.0.1:5432")]
        )
        .is_some(),
        "{}",
        s.text()
    );
    assert!(
        s.get("pg_replication_lag", &[("server", "127.0.0.1:5432")])
            .is_some()
    );
}

#[test]
fn disable_default_and_settings_metrics_as_in_0_11() {
    require_local_postgres();
    let e = exporter(
        &[
            (
                "DATA_SOURCE_NAME",
                "postgresql://postgres@127.0.0.1:5432/postgres?sslmode=disable",
            ),
            ("PG_EXPORTER_DISABLE_SETTINGS_METRICS", "true"),
        ],
        &["--disable-default-metrics"],
    );
    let s = e.scrape();
    assert_eq!(s.get("pg_up", &[]), Some(1.0));
    assert!(s.lines_of("pg_locks_count").is_empty());
    assert!(s.lines_of("pg_stat_database_xact_commit").is_empty());
    assert!(s.get("pg_settings_shared_buffers_bytes", &[]).is_none());
    assert!(
        s.get("pg_database_size_bytes", &[("datname", "postgres")])
            .is_some()
    );
}
