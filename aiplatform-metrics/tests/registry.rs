//! Registry and family behaviour: names, conflicts, collectors, cardinality, removal, expiry.

use std::time::Duration;

use aiplatform_metrics::{
    Buckets, LabelCountError, LabelKey, MetricFamily, MetricKind, NO_LABELS, OVERFLOW_LABEL_VALUE,
    Opts, RegistrationError, Registry, Snapshot, Value,
};
use aiplatform_testkit::SnapshotLookup;

/// The counter or gauge value of the series of `family` with these label values, in order.
fn counter_value(snapshot: &Snapshot, family: &str, labels: &[&str]) -> Option<f64> {
    let f = snapshot.family(family)?;
    let pairs: Vec<(&str, &str)> = f.label_names().zip(labels.iter().copied()).collect();
    assert_eq!(pairs.len(), labels.len(), "{family} has other label names");
    snapshot.value(family, &pairs)
}

#[test]
fn duplicate_names_and_sample_name_clashes_are_rejected() {
    let r = Registry::new();
    let _jobs = r.counter("jobs_total", "Jobs.").unwrap();
    assert_eq!(
        r.counter("jobs", "again").unwrap_err(),
        RegistrationError::AlreadyRegistered("jobs".into())
    );
    assert!(matches!(
        r.gauge("jobs_total", "clash"),
        Err(RegistrationError::AlreadyRegistered(_))
    ));
    let _sizes = r
        .histogram("size_bytes", "Sizes.", Buckets::default())
        .unwrap();
    for clash in ["size_bytes_bucket", "size_bytes_count", "size_bytes_sum"] {
        assert!(
            matches!(
                r.gauge(clash, "clash"),
                Err(RegistrationError::AlreadyRegistered(_))
            ),
            "{clash}"
        );
    }
    assert!(matches!(
        r.gauge("bad name", "x"),
        Err(RegistrationError::Name(_))
    ));
    assert!(matches!(
        r.counter_family("x_total", "x", &["a", "a"]),
        Err(RegistrationError::DuplicateLabel { .. })
    ));
    assert!(matches!(
        r.histogram_family("h", "h", &["le"], Buckets::default()),
        Err(RegistrationError::ReservedLabel { .. })
    ));
}

#[test]
fn unregister_stops_export_but_handles_keep_working() {
    let r = Registry::new();
    let c = r.counter("events_total", "Events.").unwrap();
    c.inc();
    assert!(r.unregister("events_total"));
    assert!(!r.unregister("events_total"));
    c.inc();
    assert_eq!(c.get(), 2.0);
    assert!(r.collect().family("events").is_none());
    let again = r.counter("events_total", "Events, again.").unwrap();
    again.inc();
    assert_eq!(counter_value(&r.collect(), "events", &[]), Some(1.0));
}

#[test]
fn namespace_and_const_labels() {
    assert!(Registry::builder().namespace("9bad").build().is_err());
    assert!(Registry::builder().const_label("__x", "1").build().is_err());
    assert!(
        Registry::builder()
            .const_label("a", "1")
            .const_label("a", "2")
            .build()
            .is_err()
    );
    let r = Registry::builder()
        .namespace("app")
        .const_label("env", "prod")
        .build()
        .unwrap();
    assert!(matches!(
        r.counter_family("hits_total", "x", &["env"]),
        Err(RegistrationError::ConstLabelConflict { .. })
    ));
    r.counter("hits_total", "Hits.").unwrap().inc();
    let s = r.collect();
    assert_eq!(counter_value(&s, "app_hits", &[]), Some(1.0));
    assert_eq!(
        s.const_labels().iter().collect::<Vec<_>>(),
        [("env", "prod")]
    );
}

#[test]
fn label_count_errors_are_typed() {
    let r = Registry::new();
    let f = r
        .counter_family("req_total", "x", &["method", "code"])
        .unwrap();
    let err = f.try_with(&["GET"]).unwrap_err();
    assert_eq!(
        err,
        LabelCountError {
            metric: "req".into(),
            expected: 2,
            got: 1
        }
    );
    assert!(f.try_apply(&["GET", "200", "x"], |c| c.inc()).is_err());
    assert!(!f.remove(&["GET"]));
    let caught = std::panic::catch_unwind(|| f.with(&["only one"]));
    assert!(caught.is_err(), "the infallible form panics, as documented");
}

#[test]
fn prepared_keys_find_the_same_series_as_slices() {
    let r = Registry::new();
    let f = r.counter_family("k_total", "x", &["a", "b"]).unwrap();
    let long = "x".repeat(40);
    let key = LabelKey::new(&["short", long.as_str()]);
    f.with(&["short", long.as_str()]).inc();
    f.apply(&key, |c| c.inc());
    f.with(&vec![String::from("short"), long.clone()]).inc();
    assert_eq!(f.len(), 1);
    assert_eq!(f.with(&key).get(), 3.0);
    assert!(f.remove(&key));
    assert_eq!(f.len(), 0);
}

#[test]
fn collector_families_merge_dedupe_and_count_what_they_drop() {
    let r = Registry::new();
    let native = r
        .counter_family("items_total", "Items.", &["kind"])
        .unwrap();
    native.with(&["native"]).inc();
    r.register_collector(|out: &mut Vec<MetricFamily>| {
        let mut same = MetricFamily::builder(MetricKind::Counter, "items_total", "Items.")
            .label_names(&["kind"])
            .build()
            .unwrap();
        same.push_counter(&["collected"], 5.0).unwrap();
        same.push_counter(&["native"], 100.0).unwrap(); // repeats a native series
        out.push(same);
        let mut dup = MetricFamily::builder(MetricKind::Gauge, "temp", "T.")
            .label_names(&["room"])
            .build()
            .unwrap();
        dup.push_gauge(&["a"], 1.0).unwrap();
        dup.push_gauge(&["a"], 2.0).unwrap(); // repeated label set inside one family
        out.push(dup);
        let mut clash = MetricFamily::builder(MetricKind::Gauge, "items_total", "Clash.")
            .build()
            .unwrap();
        clash.push_gauge(NO_LABELS, 1.0).unwrap(); // same sample name, other type
        out.push(clash);
    });
    let s = r.collect();
    let items = s.family("items").unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        counter_value(&s, "items", &["native"]),
        Some(1.0),
        "the first series wins"
    );
    assert_eq!(counter_value(&s, "items", &["collected"]), Some(5.0));
    assert_eq!(counter_value(&s, "temp", &["a"]), Some(1.0));
    assert_eq!(
        counter_value(
            &s,
            "aiplatform_metrics_collect_dropped_series",
            &["duplicate_series"]
        ),
        Some(2.0)
    );
    assert_eq!(
        counter_value(
            &s,
            "aiplatform_metrics_collect_dropped_series",
            &["conflicting_family"]
        ),
        Some(1.0)
    );
}

#[test]
fn collectors_can_be_removed() {
    let r = Registry::new();
    let id = r.register_collector(|out: &mut Vec<MetricFamily>| {
        let mut f = MetricFamily::builder(MetricKind::Gauge, "up", "Up.")
            .build()
            .unwrap();
        f.push_gauge(NO_LABELS, 1.0).unwrap();
        out.push(f);
    });
    assert!(r.collect().family("up").is_some());
    assert!(r.unregister_collector(id));
    assert!(!r.unregister_collector(id));
    assert!(r.collect().family("up").is_none());
}

#[test]
fn series_limit_sends_new_label_sets_to_one_overflow_series() {
    let r = Registry::new();
    let f = r
        .register(
            Opts::counter("users_total", "Per user.")
                .label_names(&["user", "plan"])
                .max_series(2),
        )
        .unwrap();
    for user in ["a", "b", "c", "d", "e"] {
        f.with(&[user, "free"]).inc();
    }
    f.with(&["a", "free"]).inc(); // existing series still resolve
    assert_eq!(f.len(), 2);
    assert_eq!(f.overflowed(), 3);
    let s = r.collect();
    let fam = s.family("users").unwrap();
    assert_eq!(fam.len(), 3);
    assert_eq!(counter_value(&s, "users", &["a", "free"]), Some(2.0));
    assert_eq!(
        counter_value(&s, "users", &[OVERFLOW_LABEL_VALUE, OVERFLOW_LABEL_VALUE]),
        Some(3.0)
    );
    assert_eq!(
        counter_value(&s, "aiplatform_metrics_series_overflow", &["users"]),
        Some(3.0)
    );
    // Asking for the overflow values directly lands on the same series, never a duplicate.
    f.with(&[OVERFLOW_LABEL_VALUE, OVERFLOW_LABEL_VALUE]).inc();
    assert_eq!(
        counter_value(
            &r.collect(),
            "users",
            &[OVERFLOW_LABEL_VALUE, OVERFLOW_LABEL_VALUE]
        ),
        Some(4.0)
    );
}

#[test]
fn removal_and_clear() {
    let r = Registry::new();
    let f = r.gauge_family("conn", "Connections.", &["peer"]).unwrap();
    for p in ["a", "b", "c"] {
        f.with(&[p]).set(1.0);
    }
    assert!(f.remove(&["b"]));
    assert!(!f.remove(&["b"]));
    let s = r.collect();
    assert_eq!(s.family("conn").unwrap().len(), 2);
    f.clear();
    assert!(f.is_empty());
    assert!(r.collect().family("conn").unwrap().is_empty());
    f.with(&["b"]).set(7.0);
    assert_eq!(
        counter_value(&r.collect(), "conn", &["b"]),
        Some(7.0),
        "a removed label set starts afresh"
    );
}

#[test]
fn idle_series_expire_but_held_ones_do_not() {
    let r = Registry::new();
    let f = r
        .register(
            Opts::counter("visits_total", "Visits.")
                .label_names(&["page"])
                .expire_after(Duration::from_millis(150)),
        )
        .unwrap();
    let held = f.with(&["held"]);
    held.inc();
    f.apply(&["idle"], |c| c.inc());
    f.apply(&["busy"], |c| c.inc());
    r.collect();
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(100));
        f.apply(&["busy"], |c| c.inc());
        r.collect();
    }
    // Expired series leave the member list at the next collection after their grace period.
    std::thread::sleep(Duration::from_millis(20));
    let s = r.collect();
    let pages: Vec<String> = s
        .family("visits")
        .unwrap()
        .samples()
        .map(|s| s.labels.value(0).to_owned())
        .collect();
    assert_eq!(pages, ["busy", "held"], "the idle, unheld series expired");
    assert_eq!(f.expired(), 1);
    assert_eq!(
        counter_value(&s, "aiplatform_metrics_series_expired", &["visits"]),
        Some(1.0)
    );
    held.inc();
    assert_eq!(counter_value(&r.collect(), "visits", &["held"]), Some(2.0));
    f.apply(&["idle"], |c| c.inc());
    assert_eq!(
        counter_value(&r.collect(), "visits", &["idle"]),
        Some(1.0),
        "comes back fresh"
    );
}

#[test]
fn histogram_timer_and_float_counters() {
    let r = Registry::new();
    let h = r
        .histogram("op_seconds", "Op.", Buckets::linear(0.0, 1.0, 3).unwrap())
        .unwrap();
    // observe() records now and returns the elapsed seconds: what it returns is what the
    // histogram holds, and it covers the time since start_timer().
    let t = h.start_timer();
    std::thread::sleep(Duration::from_millis(20));
    let took = t.observe();
    assert!(took >= 0.020, "{took} s since start_timer");
    assert_eq!((h.count(), h.sum()), (1, took));
    // discard() records nothing.
    h.start_timer().discard();
    assert_eq!((h.count(), h.sum()), (1, took));
    let c = r.counter("cpu_seconds_total", "CPU.").unwrap();
    c.inc_by_f64(0.25);
    c.inc_by_f64(2.0);
    c.inc_by_f64(-1.0);
    c.inc_by_f64(f64::NAN);
    assert_eq!(c.get(), 2.25);
    let s = r.collect();
    let Value::Counter(v) = s
        .family("cpu_seconds")
        .unwrap()
        .samples()
        .next()
        .unwrap()
        .value
    else {
        panic!()
    };
    assert_eq!((v.as_f64(), v.as_u64()), (2.25, None));
}
