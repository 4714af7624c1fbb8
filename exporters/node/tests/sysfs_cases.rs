//! The sysfs- and procfs-tree collectors (thermal_zone, cpufreq, hwmon, mdadm, ...) each run
//! alone on fixture trees: `tests/fixtures/trees/<collector>/<case>/{sys,proc}` for the
//! `normal`, `truncated` and `garbage` cases, an empty tree for `missing` (the kernel has no
//! such feature: nothing emitted and no error), and a generated `huge` tree. The outcome and
//! the exposition are compared with `tests/golden/trees/<collector>/<case>.<profile>.txt`
//! (for `huge`, each family's series count).
//!
//! `UPDATE_GOLDEN=1 cargo test -p aiplatform-node-exporter --test sysfs_cases` rewrites them.

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

const PROFILES: [(&str, Compat); 2] = [
    ("upstream", Compat::Upstream),
    ("debian12", Compat::Debian12),
];

/// Runs collector `name` on the tree at `root` and describes the outcome.
fn run(name: &str, root: &Path, compat: Compat) -> (String, Vec<MetricFamily>) {
    let paths = Paths::new(root.join("proc"), root.join("sys"), root, root.join("udev"));
    let cfg = Config::defaults(paths, compat);
    let spec = COLLECTORS
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no collector {name}"));
    let collector = spec.build(&cfg);
    let ctx = ScrapeContext::new(Instant::now() + Duration::from_secs(30));
    let mut out = Vec::new();
    let result = match collector.collect(&ctx, &mut out) {
        Ok(()) => "ok".to_owned(),
        Err(CollectError::NoData) => "no data".to_owned(),
        Err(e) => format!("error: {e}"),
    };
    let root_text = root.to_string_lossy();
    (result.replace(root_text.as_ref(), "<tree>"), out)
}

fn encode(families: Vec<MetricFamily>) -> String {
    let mut out = Vec::new();
    Exposition::new(Registry::new()).encode_into(ExpositionFormat::Text, families, &mut out);
    String::from_utf8(out).unwrap()
}

fn compare(path: &Path, got: &str) {
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 to create it)", path.display()));
    assert!(
        got == want,
        "{} differs (UPDATE_GOLDEN=1 to accept):\n--- want\n{want}\n--- got\n{got}",
        path.display()
    );
}

fn golden(collector: &str, case: &str, profile: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "tests/golden/trees/{collector}/{case}.{profile}.txt"
    ))
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

/// Checks the committed cases, the missing source and the generated huge tree of `collector`.
fn check(collector: &str, huge: impl Fn(&Path)) {
    let trees = support::fixture(&format!("trees/{collector}"));
    for case in ["normal", "truncated", "garbage"] {
        let root = trees.join(case);
        assert!(root.is_dir(), "{} is missing", root.display());
        for (profile, compat) in PROFILES {
            let (result, families) = run(collector, &root, compat);
            let got = format!("# result: {result}\n{}", encode(families));
            compare(&golden(collector, case, profile), &got);
        }
    }
    // The kernel has no such feature: an empty tree, or the collector's `missing` tree where
    // the feature lives inside a directory every kernel has (cpufreq under each cpu).
    let empty = Scratch::new(&format!("{collector}-missing"));
    let missing = Some(trees.join("missing"))
        .filter(|p| p.is_dir())
        .unwrap_or_else(|| empty.0.clone());
    for (_, compat) in PROFILES {
        let (result, families) = run(collector, &missing, compat);
        assert!(
            families.is_empty() && (result == "ok" || result == "no data"),
            "{collector} without its source: {result}, {} families",
            families.len()
        );
    }
    let big = Scratch::new(&format!("{collector}-huge"));
    huge(&big.0);
    for (profile, compat) in PROFILES {
        let t = Instant::now();
        let (result, families) = run(collector, &big.0, compat);
        let took = t.elapsed();
        assert!(
            took < Duration::from_secs(20),
            "{collector} huge took {took:?}"
        );
        let mut counts = BTreeMap::new();
        for f in &families {
            *counts.entry(f.name().to_owned()).or_insert(0) += f.len();
        }
        let mut got = format!("# result: {result}\n");
        for (name, n) in counts {
            writeln!(got, "{name} {n}").unwrap();
        }
        compare(&golden(collector, "huge", profile), &got);
    }
}

#[test]
fn thermal_zone() {
    check("thermal_zone", |root| {
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
    check("cpufreq", |root| {
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
    check("nvme", |root| {
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
    check("bonding", |root| {
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
    check("mdadm", |root| {
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
    check("hwmon", |root| {
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
    check("powersupplyclass", |root| {
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
    check("xfs", |root| {
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
    check("btrfs", |root| {
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
    check("nfs", |root| {
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
    check("nfsd", |root| {
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
    check("zfs", |root| {
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
