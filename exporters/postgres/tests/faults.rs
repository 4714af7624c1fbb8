//! Faults: the database going down and coming back, a locked table and a slow query under a
//! scrape time budget. The exporter must answer 200 in time and never pile up connections.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use aiplatform_testkit::{Exporter, Scrape, poll};
use support::{Cluster, exporter, primary};

const OURS: &str = "application_name = 'aiplatform-postgres-exporter'";

fn our_connections(c: &Cluster) -> usize {
    c.psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_stat_activity WHERE {OURS}"),
    )
    .parse()
    .unwrap()
}

fn scrape_with_budget(e: &Exporter, seconds: &str) -> (Duration, Scrape) {
    let t = Instant::now();
    let r = e.get_with(
        "/metrics",
        &[("X-Prometheus-Scrape-Timeout-Seconds", seconds)],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    (t.elapsed(), Scrape::parse(r.body))
}

#[test]
fn database_down_is_pg_up_0_and_recovers_by_itself() {
    let db = primary("down");
    let e = exporter(
        &[("DATA_SOURCE_NAME", &db.url("postgres"))],
        &["--pg.connect-timeout=2s"],
    );
    assert_eq!(e.scrape().get("pg_up", &[]), Some(1.0));
    db.stop();
    let (took, s) = scrape_with_budget(&e, "10");
    assert_eq!(s.get("pg_up", &[]), Some(0.0), "{}", s.text());
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(
        s.get("pg_scrape_collector_success", &[("collector", "database")]),
        Some(0.0)
    );
    assert_eq!(s.get("pg_exporter_last_scrape_error", &[]), Some(1.0));
    // Still down: every scrape answers quickly with pg_up 0.
    let (took, s) = scrape_with_budget(&e, "10");
    assert_eq!(s.get("pg_up", &[]), Some(0.0));
    assert!(took < Duration::from_secs(5), "took {took:?}");
    db.start();
    assert!(
        poll(Duration::from_secs(20), || e.scrape().get("pg_up", &[])
            == Some(1.0)),
        "did not recover: {}",
        e.log()
    );
    let s = e.scrape();
    assert!(
        s.lines_of("pg_scrape_collector_success")
            .iter()
            .all(|l| l.ends_with(" 1"))
    );
    assert_eq!(s.get("pg_exporter_last_scrape_error", &[]), Some(0.0));
    assert_eq!(our_connections(&db), 1, "one pooled connection");
}

#[test]
fn locked_table_and_slow_query_are_cancelled_at_the_budget() {
    let db = primary("locked");
    db.psql("postgres", "CREATE TABLE locked_t (id int)");
    let dir = aiplatform_testkit::TempDir::new("pgexp-faults");
    let locked = dir.write(
        "locked.yaml",
        "pg_locked:\n  query: 'SELECT count(*) AS n FROM locked_t'\n  metrics:\n    - n: {usage: GAUGE, description: rows}\n",
    );
    let slow = dir.write(
        "slow.yaml",
        "pg_slow:\n  query: 'SELECT 1 AS n FROM pg_sleep(60)'\n  metrics:\n    - n: {usage: GAUGE, description: one}\n",
    );
    // Server-side timeouts far beyond the budget: only cancellation can end the queries.
    let args = |file: &std::path::Path| {
        vec![
            format!("--extend.query-path={}", file.display()),
            "--pg.statement-timeout=120s".to_owned(),
            "--pg.lock-timeout=120s".to_owned(),
        ]
    };
    let env = [("DATA_SOURCE_NAME", db.url("postgres"))];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let mut holder = db.psql_session("postgres");
    holder
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"BEGIN; LOCK TABLE locked_t IN ACCESS EXCLUSIVE MODE;\n")
        .unwrap();
    assert!(poll(Duration::from_secs(10), || {
        db.psql("postgres", "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = 'locked_t'::regclass") == "1"
    }));

    let locked_args = args(&locked);
    let e = exporter(
        &env,
        &locked_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let mut most = 0;
    for _ in 0..5 {
        let (took, s) = scrape_with_budget(&e, "2");
        assert!(took < Duration::from_millis(2500), "took {took:?}");
        assert_eq!(s.get("pg_up", &[]), Some(1.0));
        assert_eq!(
            s.get("pg_scrape_collector_success", &[("collector", "queries")]),
            Some(0.0)
        );
        // The other collectors' queries wait behind the blocked one on the single pooled
        // connection (as with upstream's single connection); they are cancelled with it.
        most = most.max(our_connections(&db));
        // The blocked query was cancelled: nothing of ours waits on the lock.
        assert!(
            poll(Duration::from_secs(3), || {
                db.psql(
                "postgres",
                &format!("SELECT count(*) FROM pg_stat_activity WHERE {OURS} AND wait_event_type = 'Lock'")
            ) == "0"
            }),
            "a cancelled query is still waiting on the lock"
        );
    }
    assert!(most <= 2, "connections piled up: {most}");
    assert!(poll(Duration::from_secs(5), || our_connections(&db) <= 1));
    // Lock released: the next scrape succeeds on a fresh connection.
    holder
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"ROLLBACK;\n")
        .unwrap();
    assert!(poll(Duration::from_secs(10), || {
        let s = scrape_with_budget(&e, "2").1;
        s.lines_of("pg_scrape_collector_success")
            .iter()
            .all(|l| l.ends_with(" 1"))
    }));
    drop(e);
    let _ = holder.kill();
    let _ = holder.wait();

    // With the default lock_timeout (1s) the server gives up on the locked table by itself:
    // only the collectors that touch it fail (the custom query, and stat_user_tables, whose
    // pg_table_size() locks every table) and the rest of the scrape completes.
    let mut holder = db.psql_session("postgres");
    holder
        .stdin
        .as_mut()
        .unwrap()
        .write_all(b"BEGIN; LOCK TABLE locked_t IN ACCESS EXCLUSIVE MODE;\n")
        .unwrap();
    assert!(poll(Duration::from_secs(10), || {
        db.psql("postgres", "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = 'locked_t'::regclass") == "1"
    }));
    let defaults = format!("--extend.query-path={}", locked.display());
    let e = exporter(&env, &[defaults.as_str()]);
    let (took, s) = scrape_with_budget(&e, "10");
    assert!(took < Duration::from_secs(4), "took {took:?}");
    for l in s.lines_of("pg_scrape_collector_success") {
        let touches = l.contains("\"queries\"") || l.contains("\"stat_user_tables\"");
        let want = if touches { " 0" } else { " 1" };
        assert!(l.ends_with(want), "{l}");
    }
    assert!(e.log().contains("lock timeout"), "{}", e.log());
    drop(e);
    let _ = holder.kill();
    let _ = holder.wait();

    let slow_args = args(&slow);
    let e = exporter(
        &env,
        &slow_args.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    for _ in 0..3 {
        let (took, s) = scrape_with_budget(&e, "1.5");
        assert!(took < Duration::from_secs(2), "took {took:?}");
        assert_eq!(
            s.get("pg_scrape_collector_success", &[("collector", "queries")]),
            Some(0.0)
        );
    }
    assert!(
        poll(Duration::from_secs(3), || {
            db.psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_stat_activity WHERE {OURS} AND query LIKE '%pg_sleep%' AND state = 'active'")
        ) == "0"
        }),
        "pg_sleep was not cancelled"
    );
    assert!(our_connections(&db) <= 2);
}
