//! Behaviour under faults: a `statfs` that hangs (a dead network mount) is reported as that
//! mount's `node_filesystem_device_error`, never holds up the scrape, and costs at most one
//! waiting thread however many scrapes come; the mount timeout never outlasts the collector's
//! time limit. (A collector that fails outright is in `http.rs`, on a garbage procfs.)

mod support;

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use aiplatform_metrics::MetricFamily;
use aiplatform_node_exporter::collectors::collector_set;
use aiplatform_node_exporter::collectors::filesystem::FilesystemCollector;
use aiplatform_node_exporter::collectors::statfs::{FsStats, StatFs};
use aiplatform_prometheus::Compat;
use aiplatform_prometheus::{BlockingCollector, ScrapeContext, ScrapeOptions};
use aiplatform_testkit::SnapshotLookup;

/// Blocks every statfs of paths ending in `hang` until released.
#[derive(Debug, Default)]
struct HangingStatFs {
    hang: &'static str,
    released: Mutex<bool>,
    wake: Condvar,
    hung_calls: AtomicUsize,
}

impl HangingStatFs {
    fn release(&self) {
        *self.released.lock().unwrap() = true;
        self.wake.notify_all();
    }
}

impl StatFs for HangingStatFs {
    fn statfs(&self, path: &Path) -> io::Result<FsStats> {
        if path.to_string_lossy().ends_with(self.hang) {
            self.hung_calls.fetch_add(1, Ordering::SeqCst);
            let mut released = self.released.lock().unwrap();
            while !*released {
                released = self.wake.wait(released).unwrap();
            }
        }
        support::FakeStatFs.statfs(path)
    }
}

/// The value and label values of the series of `name` with `label`.
fn value(families: &[MetricFamily], name: &str, label: (&str, &str)) -> Option<(f64, Vec<String>)> {
    let v = families.value(name, &[label])?;
    let s = families.sample(name, &[label])?;
    Some((v, s.labels.values().map(str::to_owned).collect()))
}

fn scrape(c: &FilesystemCollector) -> (Vec<MetricFamily>, Duration) {
    let ctx = ScrapeContext::new(Instant::now() + Duration::from_secs(10));
    let mut out = Vec::new();
    let t = Instant::now();
    c.collect(&ctx, &mut out)
        .expect("the filesystem collector succeeds");
    (out, t.elapsed())
}

#[test]
fn a_hung_statfs_marks_the_mount_and_leaks_no_threads() {
    let statfs = Arc::new(HangingStatFs {
        hang: "/mnt/nfs",
        ..HangingStatFs::default()
    });
    let mut cfg = support::fixture_config(Compat::Upstream);
    cfg.filesystem.statfs = statfs.clone();
    cfg.filesystem.mount_timeout = Duration::from_secs(2);
    let c = FilesystemCollector::new(cfg.paths.clone(), cfg.compat, cfg.filesystem.clone());

    let (out, took) = scrape(&c);
    assert!(
        took >= Duration::from_secs(2),
        "the first scrape waits out the mount timeout"
    );
    assert!(took < Duration::from_secs(6), "first scrape took {took:?}");
    let (err, labels) = value(
        &out,
        "node_filesystem_device_error",
        ("mountpoint", "/mnt/nfs"),
    )
    .unwrap();
    assert_eq!(err, 1.0);
    // Labels sorted by name: device, device_error, fstype, mountpoint.
    assert_eq!(
        labels.get(1).map(String::as_str),
        Some("mountpoint timeout")
    );
    assert_eq!(
        value(&out, "node_filesystem_device_error", ("mountpoint", "/"))
            .unwrap()
            .0,
        0.0
    );
    assert!(value(&out, "node_filesystem_size_bytes", ("mountpoint", "/")).is_some());
    assert!(
        value(
            &out,
            "node_filesystem_size_bytes",
            ("mountpoint", "/mnt/nfs")
        )
        .is_none()
    );
    assert!(c.is_stuck("/mnt/nfs"));

    for _ in 0..50 {
        let (out, took) = scrape(&c);
        assert!(
            took < Duration::from_millis(150),
            "a stuck mount is skipped, not waited for: {took:?}"
        );
        assert_eq!(
            value(
                &out,
                "node_filesystem_device_error",
                ("mountpoint", "/mnt/nfs")
            )
            .unwrap()
            .0,
            1.0
        );
        assert!(
            c.worker_threads() <= 2,
            "{} statfs threads",
            c.worker_threads()
        );
    }
    assert_eq!(
        statfs.hung_calls.load(Ordering::SeqCst),
        1,
        "the stuck mount is not called again"
    );

    statfs.release();
    let until = Instant::now() + Duration::from_secs(5);
    while c.is_stuck("/mnt/nfs") && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        !c.is_stuck("/mnt/nfs"),
        "the mount recovers once its call returns"
    );
    let (out, _) = scrape(&c);
    assert_eq!(
        value(
            &out,
            "node_filesystem_device_error",
            ("mountpoint", "/mnt/nfs")
        )
        .unwrap()
        .0,
        0.0
    );
    while c.worker_threads() > 1 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        c.worker_threads(),
        1,
        "the abandoned worker exits once its call returns"
    );
}

#[test]
fn the_collector_time_limit_caps_the_mount_timeout() {
    let statfs = Arc::new(HangingStatFs {
        hang: "/mnt/nfs",
        ..HangingStatFs::default()
    });
    let mut cfg = support::fixture_config(Compat::Upstream);
    cfg.filesystem.statfs = statfs.clone();
    cfg.filesystem.mount_timeout = Duration::from_secs(30);
    let mut set = collector_set(&cfg, None).unwrap();
    // Only the filesystem collector gets a short limit: on a loaded CI host the others may
    // legitimately take longer.
    set.set_collector_timeout("filesystem", Duration::from_secs(1))
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let t = Instant::now();
    let families = rt.block_on(set.scrape(ScrapeOptions::default()));
    let took = t.elapsed();
    assert!(took < Duration::from_secs(3), "scrape took {took:?}");
    let success = |c: &str| {
        value(&families, "node_scrape_collector_success", ("collector", c))
            .unwrap()
            .0
    };
    for c in ["filesystem", "meminfo", "cpu", "diskstats"] {
        assert_eq!(success(c), 1.0, "{c}");
    }
    let (err, labels) = value(
        &families,
        "node_filesystem_device_error",
        ("mountpoint", "/mnt/nfs"),
    )
    .unwrap();
    assert_eq!((err, labels[1].as_str()), (1.0, "mountpoint timeout"));
    statfs.release();
}
