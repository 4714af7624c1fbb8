//! The INFO parser on recorded and hand-written INFO text, and on arbitrary input.

use aiplatform_metrics::{MetricFamily, MetricKind, Value};
use aiplatform_prometheus::Compat;
use aiplatform_redis_exporter::config::family_set;
use aiplatform_redis_exporter::info::{InfoOptions, InfoSummary, extract_info_metrics};
use aiplatform_redis_exporter::info_map::InfoMap;
use proptest::prelude::*;

const MASTER_7_0: &str = include_str!("fixtures/info_master_7.0.txt");

fn run(info: &str, compat: Compat, db_count: usize) -> (Vec<MetricFamily>, InfoSummary) {
    let map = InfoMap::new(compat, false);
    let opts = InfoOptions {
        compat,
        map: &map,
        db_count,
        now_unix: 1_800_000_000.0,
    };
    let mut out = family_set("redis");
    let summary = extract_info_metrics(info, &opts, &mut out);
    assert_eq!(out.skipped(), 0, "no clashing declarations");
    (out.into_families(), summary)
}

fn family<'a>(fams: &'a [MetricFamily], name: &str) -> &'a MetricFamily {
    fams.iter()
        .find(|f| f.name() == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

fn value(f: &MetricFamily, labels: &[&str]) -> f64 {
    match f
        .get(labels)
        .unwrap_or_else(|| panic!("{} {labels:?}", f.name()))
        .value
    {
        Value::Gauge(v) | Value::Unknown(v) => v,
        Value::Counter(c) => c.as_f64(),
        Value::Summary(s) => s.sum,
        Value::Histogram(h) => h.sum,
    }
}

#[test]
fn recorded_redis_7_master() {
    let (fams, summary) = run(MASTER_7_0, Compat::Upstream, 16);
    assert_eq!(summary.role, "master");
    assert!(!summary.cluster_enabled);
    assert!(value(family(&fams, "redis_memory_used_bytes"), &[]) > 0.0);
    assert_eq!(
        family(&fams, "redis_keyspace_hits").kind(),
        MetricKind::Counter
    );
    assert_eq!(family(&fams, "redis_db_keys").len(), 16);
    assert_eq!(
        family(&fams, "redis_instance_info").label_names().last(),
        Some("master_replid")
    );
    let uptime = value(family(&fams, "redis_uptime_in_seconds"), &[]);
    assert_eq!(
        value(family(&fams, "redis_start_time_seconds"), &[]),
        1_800_000_000.0 - uptime
    );
    assert!(family(&fams, "redis_commands").len() > 3);
    assert_eq!(
        family(&fams, "redis_latency_percentiles_usec").kind(),
        MetricKind::Summary
    );
    // Human-readable duplicates (used_memory_human) and strings (mem_allocator) are skipped.
    assert!(
        fams.iter()
            .all(|f| !f.name().contains("human") && !f.name().contains("allocator:"))
    );
    let (old, _) = run(MASTER_7_0, Compat::Debian12, 16);
    assert_eq!(family(&old, "redis_instance_info").label_names().count(), 9);
    assert!(fams.len() > old.len(), "upstream maps more fields");
}

const REPLICA: &str = "# Server\r\nredis_version:6.0.16\r\nredis_mode:standalone\r\nrun_id:abc\r\ntcp_port:6380\r\nuptime_in_seconds:10\r\n\
# Replication\r\nrole:slave\r\nmaster_host:10.0.0.1\r\nmaster_port:6379\r\nmaster_link_status:down\r\nmaster_last_io_seconds_ago:-1\r\n\
master_sync_in_progress:1\r\nslave_repl_offset:1234\r\nslave_read_only:1\r\nmaster_1_host:10.0.0.2\r\nmaster_1_port:6390\r\n\
master_1_link_status:up\r\nconnected_slaves:1\r\nslave0:ip=10.0.0.9,port=6381,state=online,offset=99,lag=1\r\nslave1:ip=10.0.0.8,port=6382,state=wait_bgsave,offset=0\r\n\
master_repl_offset:1234\r\n# Commandstats\r\ncmdstat_get:calls=21,usec=175,usec_per_call=8.33\r\ncmdstat_config|get:calls=2,usec=30,usec_per_call=15.00,rejected_calls=1,failed_calls=0\r\n\
# Errorstats\r\nerrorstat_NOAUTH:count=3\r\nerrorstat_BAD:nonsense\r\n# Keyspace\r\ndb0:keys=5,expires=1,avg_ttl=5000\r\ndb3:keys=2,expires=0,avg_ttl=0,subexpiry=1\r\ndb9:garbage\r\n";

#[test]
fn replica_with_keydb_multi_master_and_old_command_stats() {
    let (fams, summary) = run(REPLICA, Compat::Upstream, 4);
    assert_eq!(summary.role, "slave");
    let link = family(&fams, "redis_master_link_up");
    assert_eq!(value(link, &["10.0.0.1", "6379"]), 0.0);
    assert_eq!(value(link, &["10.0.0.2", "6390"]), 1.0);
    assert_eq!(
        value(
            family(&fams, "redis_master_last_io_seconds_ago"),
            &["10.0.0.1", "6379"]
        ),
        -1.0
    );
    assert_eq!(
        value(
            family(&fams, "redis_master_sync_in_progress"),
            &["10.0.0.1", "6379"]
        ),
        1.0
    );
    assert_eq!(
        value(
            family(&fams, "redis_slave_repl_offset"),
            &["10.0.0.1", "6379"]
        ),
        1234.0
    );
    assert_eq!(
        value(
            family(&fams, "redis_slave_info"),
            &["10.0.0.1", "6379", "1"]
        ),
        1.0
    );
    let offset = family(&fams, "redis_connected_slave_offset_bytes");
    assert_eq!(value(offset, &["10.0.0.9", "6381", "online"]), 99.0);
    assert_eq!(value(offset, &["10.0.0.8", "6382", "wait_bgsave"]), 0.0);
    let lag = family(&fams, "redis_connected_slave_lag_seconds");
    assert_eq!(lag.len(), 1, "no lag field, no lag series");
    assert_eq!(value(family(&fams, "redis_commands"), &["config|get"]), 2.0);
    assert_eq!(
        value(family(&fams, "redis_commands_duration_seconds"), &["get"]),
        175e-6
    );
    assert_eq!(
        family(&fams, "redis_commands_rejected_calls").len(),
        1,
        "only 6.2+ lines have it"
    );
    assert_eq!(value(family(&fams, "redis_errors"), &["NOAUTH"]), 3.0);
    assert_eq!(family(&fams, "redis_errors").len(), 1);
    let keys = family(&fams, "redis_db_keys");
    assert_eq!(
        keys.len(),
        4,
        "db0, db3 and zero-filled db1, db2; db9 unparsable"
    );
    assert_eq!(value(keys, &["db3"]), 2.0);
    assert_eq!(value(keys, &["db1"]), 0.0);
    assert_eq!(
        value(family(&fams, "redis_db_avg_ttl_seconds"), &["db0"]),
        5.0
    );
    assert_eq!(
        value(family(&fams, "redis_db_keys_with_expiring_items"), &["db3"]),
        1.0
    );
    let (old, _) = run(REPLICA, Compat::Debian12, 4);
    assert!(
        !old.iter()
            .any(|f| f.name() == "redis_db_keys_with_expiring_items")
    );
}

#[test]
fn values_like_redis_exporter() {
    let info = "# Persistence\nrdb_last_bgsave_status:ok\naof_last_write_status:err\nloading:true\n\
                # Stats\nlatest_fork_usec:1500\nexpired_stale_perc:0.5\nevicted_keys:notanumber\n";
    let (fams, _) = run(info, Compat::Upstream, 0);
    assert_eq!(
        value(family(&fams, "redis_rdb_last_bgsave_status"), &[]),
        1.0
    );
    assert_eq!(
        value(family(&fams, "redis_aof_last_write_status"), &[]),
        0.0
    );
    assert_eq!(value(family(&fams, "redis_loading_dump_file"), &[]), 1.0);
    assert_eq!(
        value(family(&fams, "redis_latest_fork_seconds"), &[]),
        0.0015
    );
    assert_eq!(
        family(&fams, "redis_latest_fork_seconds").help(),
        "latest_fork_seconds metric"
    );
    assert!(!fams.iter().any(|f| f.name() == "redis_evicted_keys"));
}

fn field_name() -> impl Strategy<Value = String> {
    // Lower-case names that are not mapped and do not have an exported prefix.
    "[a-z][a-z0-9_]{0,20}".prop_filter("not exported", |n| {
        let map = InfoMap::new(Compat::Upstream, true);
        map.get(n).is_none()
            && !n.starts_with("db")
            && !n.starts_with("cmdstat_")
            && !n.starts_with("cluster_")
            && !n.starts_with("used_active_time_io_thread_")
            && !n.starts_with("master")
            && !n.starts_with("slave")
            && !matches!(n.as_str(), "uptime_in_seconds" | "configured_hz" | "hz")
    })
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_text(text in "(?s).{0,2000}") {
        for compat in [Compat::Upstream, Compat::Debian12] {
            let map = InfoMap::new(compat, true);
            let opts = InfoOptions { compat, map: &map, db_count: 16, now_unix: 0.0 };
            let mut out = family_set("redis");
            extract_info_metrics(&text, &opts, &mut out);
        }
    }

    #[test]
    fn never_panics_on_info_shaped_noise(
        lines in proptest::collection::vec(("[#a-z_0-9|]{0,12}", "[:=,a-z0-9.\\-]{0,24}"), 0..60),
        section in proptest::sample::select(vec!["Server", "Replication", "Commandstats", "Latencystats", "Errorstats", "Keyspace", "Stats"]),
    ) {
        let mut text = format!("# {section}\r\n");
        for (k, v) in &lines {
            text.push_str(&format!("{k}:{v}\r\n"));
        }
        let map = InfoMap::new(Compat::Upstream, false);
        let opts = InfoOptions { compat: Compat::Upstream, map: &map, db_count: 2, now_unix: 0.0 };
        let mut out = family_set("redis");
        extract_info_metrics(&text, &opts, &mut out);
    }

    #[test]
    fn unknown_fields_are_skipped(
        extra in proptest::collection::vec((field_name(), "[a-z0-9.]{0,10}"), 1..20),
        at in 0usize..200,
    ) {
        let (base, _) = run(MASTER_7_0, Compat::Upstream, 16);
        let mut lines: Vec<String> = MASTER_7_0.split("\r\n").map(str::to_owned).collect();
        let at = at % lines.len();
        for (k, v) in &extra {
            lines.insert(at, format!("{k}:{v}"));
        }
        let (with, _) = run(&lines.join("\r\n"), Compat::Upstream, 16);
        let names = |f: &[MetricFamily]| f.iter().map(|f| (f.name().to_owned(), f.len())).collect::<Vec<_>>();
        prop_assert_eq!(names(&base), names(&with));
    }
}
