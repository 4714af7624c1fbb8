//! Each collector alone against its fixture trees, `tests/fixtures/collectors/<name>/<case>/`
//! (a root holding `proc/`, `sys/` and `rootfs/` as far as the collector reads them):
//! `normal` (laid out as a real host has it), `truncated` (files cut in the middle),
//! `garbage` (binary junk where numbers belong), `huge` (values at and past 64 bits, many
//! entries) and `missing` (no such tree: the kernel lacks the feature). The exposition and the
//! collector's outcome are compared with `tests/golden/collectors/<name>/<case>.txt`; a
//! missing source must produce no family and no error, as node_exporter's collectors do.
//!
//! `UPDATE_GOLDEN=1 cargo test -p aiplatform-node-exporter --test collector_cases` rewrites
//! the golden files.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aiplatform_metrics::{ExpositionFormat, Registry};
use aiplatform_node_exporter::collectors::COLLECTORS;
use aiplatform_node_exporter::config::Config;
use aiplatform_node_exporter::paths::Paths;
use aiplatform_prometheus::{CollectError, Compat, Exposition, ScrapeContext};

const CASES: [&str; 5] = ["normal", "truncated", "garbage", "huge", "missing"];

/// A collector's configuration for its cases (its flags as tests want them).
type Setup = fn(&mut Config);

fn root(collector: &str, case: &str) -> PathBuf {
    support::fixture(&format!("collectors/{collector}/{case}"))
}

/// Runs `collector` once on the tree of `case` and renders the outcome.
fn run(collector: &str, case: &str, compat: Compat, setup: Setup) -> String {
    let root = root(collector, case);
    let paths = Paths::new(
        root.join("proc"),
        root.join("sys"),
        root.join("rootfs"),
        root.join("udev"),
    );
    let mut cfg = Config::defaults(paths, compat);
    setup(&mut cfg);
    let spec = COLLECTORS
        .iter()
        .find(|s| s.name == collector)
        .unwrap_or_else(|| panic!("no collector {collector}"));
    let c = spec.build(&cfg);
    let ctx = ScrapeContext::new(Instant::now() + Duration::from_secs(10));
    let mut families = Vec::new();
    let result = c.collect(&ctx, &mut families);
    let outcome = match &result {
        Ok(()) => "ok".to_owned(),
        Err(CollectError::NoData) => "no data".to_owned(),
        Err(e) => format!("error: {e}"),
    };
    let n = families.len();
    let mut text = Vec::new();
    Exposition::new(Registry::new()).encode_into(ExpositionFormat::Text, families, &mut text);
    let text = String::from_utf8(text).expect("UTF-8 exposition");
    let prefix = root.to_string_lossy().into_owned();
    let mut out = format!("# outcome: {outcome}\n# families: {n}\n{text}");
    out = out.replace(&prefix, "<root>");
    if case == "missing" {
        assert!(
            !root.exists(),
            "{collector}: the missing case must not exist"
        );
        assert_eq!(n, 0, "{collector}: families from a missing source:\n{out}");
        assert!(
            matches!(result, Ok(()) | Err(CollectError::NoData)),
            "{collector}: a missing source is an error: {outcome}"
        );
    }
    out
}

fn check(collector: &str, setup: Setup, compat: Compat, suffix: &str) {
    let mut failures = Vec::new();
    for case in CASES {
        let got = run(collector, case, compat, setup);
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
            "tests/golden/collectors/{collector}/{case}{suffix}.txt"
        ));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if got != want {
            failures.push(format!(
                "{} differs (UPDATE_GOLDEN=1 to accept):\n--- want\n{want}--- got\n{got}",
                path.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn defaults(_: &mut Config) {}

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
