//! Each collector alone against its own fixture trees, one test per collector. A case is a
//! root holding `proc/`, `sys/` (and `rootfs/`, `udev/`) as far as the collector reads them:
//! `normal` (laid out as a real host has it), `truncated` (files cut in the middle),
//! `garbage` (binary junk where numbers belong), `huge` (values at and past 64 bits, many
//! entries) and `missing` (the kernel lacks the feature: the collector must emit no family and
//! report success or no data, never an error, as node_exporter's collectors do). The outcome,
//! the number of families and the exposition are compared with a golden file.
//!
//! Two layouts, one runner:
//! - [`check`]: committed trees `tests/fixtures/collectors/<name>/<case>/` (all five cases;
//!   `missing` must not exist), one profile per call, goldens
//!   `tests/golden/collectors/<name>/<case><variant>.txt`;
//! - [`check_trees`]: committed `normal`, `truncated`, `garbage` (and an optional `missing`)
//!   under `tests/fixtures/trees/<name>/`, which `tests/compat_fixtures.rs` also runs through
//!   Debian's Go exporter, with the root doubling as `rootfs`; a `huge` tree generated at test
//!   time (goldened as each family's series count); both profiles, goldens
//!   `tests/golden/trees/<name>/<case>.<profile>.txt`.
//!
//! `UPDATE_GOLDEN=1 cargo test -p aiplatform-node-exporter --test collector_cases` rewrites
//! the golden files.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aiplatform_metrics::{ExpositionFormat, MetricFamily, Registry};
use aiplatform_node_exporter::collectors::COLLECTORS;
use aiplatform_node_exporter::config::Config;
use aiplatform_node_exporter::paths::Paths;
use aiplatform_prometheus::{CollectError, Compat, Exposition, ScrapeContext};

const CASES: [&str; 5] = ["normal", "truncated", "garbage", "huge", "missing"];

const PROFILES: [(&str, Compat); 2] = [
    ("upstream", Compat::Upstream),
    ("debian12", Compat::Debian12),
];

/// A collector's configuration for its cases (its flags as tests want them).
type Setup = fn(&mut Config);

fn defaults(_: &mut Config) {}

/// What one run of a collector gave.
struct Outcome {
    result: Result<(), CollectError>,
    families: Vec<MetricFamily>,
    root: PathBuf,
}

impl Outcome {
    fn header(&self) -> String {
        let outcome = match &self.result {
            Ok(()) => "ok".to_owned(),
            Err(CollectError::NoData) => "no data".to_owned(),
            Err(e) => format!("error: {e}"),
        };
        format!(
            "# outcome: {outcome}\n# families: {}\n",
            self.families.len()
        )
    }

    /// The header and the exposition, the tree's path written `<root>`.
    fn render(self) -> String {
        let mut text = self.header();
        let mut out = Vec::new();
        Exposition::new(Registry::new()).encode_into(
            ExpositionFormat::Text,
            self.families,
            &mut out,
        );
        text.push_str(&String::from_utf8(out).expect("UTF-8 exposition"));
        text.replace(self.root.to_string_lossy().as_ref(), "<root>")
    }

    /// The header and each family's series count (for generated trees too big to golden).
    fn counts(self) -> String {
        let mut text = self.header();
        let mut counts = BTreeMap::new();
        for f in &self.families {
            *counts.entry(f.name().to_owned()).or_insert(0) += f.len();
        }
        for (name, n) in counts {
            writeln!(text, "{name} {n}").unwrap();
        }
        text.replace(self.root.to_string_lossy().as_ref(), "<root>")
    }

    /// A missing source: nothing emitted, and success or no data.
    fn assert_nothing(&self, collector: &str) {
        assert!(
            self.families.is_empty() && matches!(self.result, Ok(()) | Err(CollectError::NoData)),
            "{collector} without its source: {}",
            self.header()
        );
    }
}

/// Runs `collector` once on the tree at `root` (`rootfs` the root of mount points).
fn run(collector: &str, root: &Path, rootfs: &Path, compat: Compat, setup: Setup) -> Outcome {
    let paths = Paths::new(
        root.join("proc"),
        root.join("sys"),
        rootfs,
        root.join("udev"),
    );
    let mut cfg = Config::defaults(paths, compat);
    setup(&mut cfg);
    let spec = COLLECTORS
        .iter()
        .find(|s| s.name == collector)
        .unwrap_or_else(|| panic!("no collector {collector}"));
    let c = spec.build(&cfg);
    let ctx = ScrapeContext::new(Instant::now() + Duration::from_secs(30));
    let mut families = Vec::new();
    let result = c.collect(&ctx, &mut families);
    Outcome {
        result,
        families,
        root: root.to_owned(),
    }
}

/// Compares `got` with the golden file at `rel` (under `tests/golden/`), or rewrites it.
fn compare(rel: &str, got: &str, failures: &mut Vec<String>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(rel);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    if got != want {
        failures.push(format!(
            "{} differs (UPDATE_GOLDEN=1 to accept):\n--- want\n{want}--- got\n{got}",
            path.display()
        ));
    }
}

/// The five committed cases of `tests/fixtures/collectors/<collector>/` under one profile.
fn check(collector: &str, setup: Setup, compat: Compat, variant: &str) {
    let mut failures = Vec::new();
    for case in CASES {
        let root = support::fixture(&format!("collectors/{collector}/{case}"));
        let outcome = run(collector, &root, &root.join("rootfs"), compat, setup);
        if case == "missing" {
            assert!(
                !root.exists(),
                "{collector}: the missing case must not exist"
            );
            outcome.assert_nothing(collector);
        }
        compare(
            &format!("collectors/{collector}/{case}{variant}.txt"),
            &outcome.render(),
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("node-cases-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `content` at `root/rel`, creating directories.
fn put(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

/// The committed cases of `tests/fixtures/trees/<collector>/`, the missing source and the
/// tree `huge` writes, in both profiles.
fn check_trees(collector: &str, huge: impl Fn(&Path)) {
    let mut failures = Vec::new();
    let trees = support::fixture(&format!("trees/{collector}"));
    for case in ["normal", "truncated", "garbage"] {
        let root = trees.join(case);
        assert!(root.is_dir(), "{} is missing", root.display());
        for (profile, compat) in PROFILES {
            let got = run(collector, &root, &root, compat, defaults).render();
            compare(
                &format!("trees/{collector}/{case}.{profile}.txt"),
                &got,
                &mut failures,
            );
        }
    }
    // The kernel has no such feature: an empty tree, or the collector's `missing` tree where
    // the feature lives inside a directory every kernel has (cpufreq under each cpu).
    let empty = Scratch::new(&format!("{collector}-missing"));
    let missing = Some(trees.join("missing"))
        .filter(|p| p.is_dir())
        .unwrap_or_else(|| empty.0.clone());
    for (_, compat) in PROFILES {
        run(collector, &missing, &missing, compat, defaults).assert_nothing(collector);
    }
    let big = Scratch::new(&format!("{collector}-huge"));
    huge(&big.0);
    for (profile, compat) in PROFILES {
        let t = Instant::now();
        let outcome = run(collector, &big.0, &big.0, compat, defaults);
        let took = t.elapsed();
        assert!(
            took < Duration::from_secs(20),
            "{collector} huge took {took:?}"
        );
        compare(
            &format!("trees/{collector}/huge.{profile}.txt"),
            &outcome.counts(),
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rapl() {
    check("rapl", defaults, Compat::Upstream, "");
    check(
        "rapl",
        |c| c.rapl.enable_zone_label = true,
        Compat::Upstream,
        "-zone-label",
    );
}

#[test]
fn edac() {
    check("edac", defaults, Compat::Upstream, "");
}

#[test]
fn schedstat() {
    check("schedstat", defaults, Compat::Upstream, "");
}

#[test]
fn dmi() {
    check("dmi", defaults, Compat::Upstream, "");
}

#[test]
fn watchdog() {
    check("watchdog", defaults, Compat::Upstream, "");
}

#[test]
fn ksmd() {
    check("ksmd", defaults, Compat::Upstream, "");
}

#[test]
fn meminfo_numa() {
    check("meminfo_numa", defaults, Compat::Upstream, "");
}

#[test]
fn interrupts() {
    check("interrupts", defaults, Compat::Upstream, "");
    check(
        "interrupts",
        |c| {
            c.interrupts.include_zeros = false;
            c.interrupts.filter =
                aiplatform_node_exporter::filter::DeviceFilter::new(Some("^(NMI|LOC);"), None)
                    .unwrap();
        },
        Compat::Upstream,
        "-filtered",
    );
}

#[test]
fn processes() {
    check("processes", defaults, Compat::Upstream, "");
}

#[test]
fn zoneinfo() {
    check("zoneinfo", defaults, Compat::Upstream, "");
}

#[test]
fn infiniband() {
    check("infiniband", defaults, Compat::Upstream, "");
}

#[test]
fn fibrechannel() {
    check("fibrechannel", defaults, Compat::Upstream, "");
}

#[test]
fn tapestats() {
    check("tapestats", defaults, Compat::Upstream, "");
    check(
        "tapestats",
        |c| c.tapestats_ignored = regex::Regex::new("^st1$").unwrap(),
        Compat::Upstream,
        "-ignored",
    );
}

#[test]
fn ipvs() {
    check("ipvs", defaults, Compat::Upstream, "");
    check(
        "ipvs",
        |c| c.ipvs_backend_labels = vec!["remote_address", "proto"],
        Compat::Upstream,
        "-labels",
    );
}

#[test]
fn bcache() {
    check("bcache", defaults, Compat::Upstream, "");
    check(
        "bcache",
        |c| c.bcache.priority_stats = true,
        Compat::Debian12,
        "-debian12-priority",
    );
}

#[test]
fn mountstats() {
    check("mountstats", defaults, Compat::Upstream, "");
}

#[test]
fn fibrechannel_as_node_exporter_1_5_0() {
    check("fibrechannel", defaults, Compat::Debian12, "-debian12");
}

#[test]
fn infiniband_as_node_exporter_1_5_0() {
    check("infiniband", defaults, Compat::Debian12, "-debian12");
}

#[test]
fn mountstats_as_node_exporter_1_5_0() {
    check("mountstats", defaults, Compat::Debian12, "-debian12");
}

/// node_exporter 1.11 and 1.12 added these three, on by default; 1.5.0 lacks them, so the
/// `debian12` profile leaves them off.
#[test]
fn newer_defaults_are_upstream_only() {
    for name in ["bcachefs", "dmmultipath", "kernel_hung"] {
        let spec = COLLECTORS.iter().find(|s| s.name == name).unwrap();
        assert_eq!(
            (spec.default, spec.since_debian12),
            (aiplatform_prometheus::DefaultState::Enabled, true),
            "{name}"
        );
    }
}

#[test]
fn bcachefs() {
    check("bcachefs", defaults, Compat::Upstream, "");
}

#[test]
fn dmmultipath() {
    check("dmmultipath", defaults, Compat::Upstream, "");
}

#[test]
fn kernel_hung() {
    check("kernel_hung", defaults, Compat::Upstream, "");
}

#[test]
fn thermal_zone() {
    check_trees("thermal_zone", |root| {
        for i in 0..300 {
            let z = format!("sys/class/thermal/thermal_zone{i}");
            put(root, &format!("{z}/type"), "acpitz\n");
            put(root, &format!("{z}/policy"), "step_wise\n");
            put(root, &format!("{z}/temp"), &format!("{}\n", 20000 + i));
            let c = format!("sys/class/thermal/cooling_device{i}");
            put(root, &format!("{c}/type"), "Processor\n");
            put(root, &format!("{c}/max_state"), "10\n");
            put(root, &format!("{c}/cur_state"), "0\n");
        }
        // One attribute far longer than a sysfs page: only its first 128 bytes are read.
        put(
            root,
            "sys/class/thermal/thermal_zone0/type",
            &"x".repeat(1 << 20),
        );
    });
}

#[test]
fn cpufreq() {
    check_trees("cpufreq", |root| {
        put(root, "sys/devices/system/cpu/offline", "\n");
        for i in 0..256 {
            let d = format!("sys/devices/system/cpu/cpu{i}/cpufreq");
            for (f, v) in [
                ("cpuinfo_cur_freq", "800000"),
                ("cpuinfo_max_freq", "3600000"),
                ("cpuinfo_min_freq", "800000"),
                ("scaling_cur_freq", "1200000"),
                ("scaling_max_freq", "3600000"),
                ("scaling_min_freq", "800000"),
                ("scaling_available_governors", "performance powersave"),
                ("scaling_driver", "intel_pstate"),
                ("scaling_governor", "powersave"),
                ("related_cpus", "0"),
                ("scaling_setspeed", "<unsupported>"),
            ] {
                put(root, &format!("{d}/{f}"), &format!("{v}\n"));
            }
        }
    });
}

#[test]
fn nvme() {
    check_trees("nvme", |root| {
        for i in 0..300 {
            for f in ["firmware_rev", "model", "serial", "state", "cntlid"] {
                put(
                    root,
                    &format!("sys/class/nvme/nvme{i}/{f}"),
                    &format!("{f}{i}\n"),
                );
            }
        }
    });
}

#[test]
fn bonding() {
    check_trees("bonding", |root| {
        let masters: Vec<String> = (0..100).map(|i| format!("bond{i}")).collect();
        put(root, "sys/class/net/bonding_masters", &masters.join(" "));
        for m in &masters {
            let slaves: Vec<String> = (0..8).map(|i| format!("eth{i}")).collect();
            put(
                root,
                &format!("sys/class/net/{m}/bonding/slaves"),
                &slaves.join(" "),
            );
            for s in &slaves {
                put(
                    root,
                    &format!("sys/class/net/{m}/lower_{s}/bonding_slave/mii_status"),
                    "up\n",
                );
            }
        }
    });
}

#[test]
fn mdadm() {
    check_trees("mdadm", |root| {
        let mut text = String::from("Personalities : [raid1]\n");
        for i in 0..5000 {
            text.push_str(&format!(
                "md{i} : active raid1 sda{i}[0] sdb{i}[1]\n      1000 blocks [2/2] [UU]\n\n"
            ));
        }
        text.push_str("unused devices: <none>\n");
        put(root, "proc/mdstat", &text);
    });
}

#[test]
fn hwmon() {
    check_trees("hwmon", |root| {
        for i in 0..100 {
            let d = format!("sys/class/hwmon/hwmon{i}");
            put(root, &format!("{d}/name"), &format!("chip{i}\n"));
            for s in 0..20 {
                put(root, &format!("{d}/temp{s}_input"), "42000\n");
                put(root, &format!("{d}/temp{s}_label"), &"L".repeat(4096));
            }
        }
    });
}

#[test]
fn powersupplyclass() {
    check_trees("powersupplyclass", |root| {
        for i in 0..200 {
            let d = format!("sys/class/power_supply/BAT{i}");
            put(root, &format!("{d}/type"), "Battery\n");
            put(root, &format!("{d}/capacity"), &format!("{}\n", i % 100));
            put(root, &format!("{d}/voltage_now"), "12229000\n");
            put(root, &format!("{d}/model_name"), &"M".repeat(1 << 16));
        }
    });
}

#[test]
fn xfs() {
    check_trees("xfs", |root| {
        let mut text = String::new();
        for i in 0..20_000 {
            text.push_str(&format!("unknown_{i} 1 2 3\n"));
        }
        text.push_str("rw 1 2\n");
        for i in 0..20 {
            put(root, &format!("sys/fs/xfs/dm-{i}/stats/stats"), &text);
        }
    });
}

#[test]
fn btrfs() {
    check_trees("btrfs", |root| {
        for i in 0..50 {
            let fs = format!("sys/fs/btrfs/{i:08}-0000-0000-0000-000000000000");
            put(root, &format!("{fs}/label"), &"L".repeat(1 << 16));
            std::fs::create_dir_all(root.join(format!("{fs}/features"))).unwrap();
            for d in 0..20 {
                put(root, &format!("{fs}/devices/sd{d}/size"), "1000\n");
            }
            for t in ["data", "metadata", "system"] {
                put(
                    root,
                    &format!("{fs}/allocation/{t}/single/total_bytes"),
                    "1\n",
                );
            }
        }
    });
}

#[test]
fn nfs() {
    check_trees("nfs", |root| {
        // A kernel that grew far more NFSv4 operations than procfs knows.
        let ops: Vec<String> = (0..100_000).map(|i| i.to_string()).collect();
        put(
            root,
            "proc/net/rpc/nfs",
            &format!("net 1 2 3 4\nproc4 {} {}\n", ops.len(), ops.join(" ")),
        );
    });
}

#[test]
fn nfsd() {
    check_trees("nfsd", |root| {
        let ops: Vec<String> = (0..100_000).map(|i| i.to_string()).collect();
        put(
            root,
            "proc/net/rpc/nfsd",
            &format!("rc 1 2 3\nproc4ops {} {}\n", ops.len(), ops.join(" ")),
        );
    });
}

#[test]
fn zfs() {
    check_trees("zfs", |root| {
        let mut text = String::from("6 1 0x01\nname type data\n");
        for i in 0..2_000 {
            text.push_str(&format!("stat_{i} 4 {i}\n"));
        }
        put(root, "proc/spl/kstat/zfs/arcstats", &text);
        for p in 0..100 {
            put(
                root,
                &format!("proc/spl/kstat/zfs/pool{p}/state"),
                "ONLINE\n",
            );
        }
    });
}
