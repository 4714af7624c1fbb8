//! Our exporter with `--compat=debian12` against Debian 12's Go `prometheus-node-exporter`
//! (node_exporter 1.5.0) on this host, both with the collectors they share (node_exporter's
//! defaults that we implement, and the non-default [`NON_DEFAULT`] enabled in both): for every `node_*` family the Go binary exposes, the same
//! name, type, HELP, label names and series, and values that agree (counters between two Go
//! scrapes taken before and after ours, gauges within a tolerance for the ones that move).
//! The families those collectors give must be every family Go exposes here with all its
//! defaults on (the collectors we lack must emit nothing on this host).
//!
//! Families that cannot match are listed in [`EXCEPTIONS`] with the reason; the test fails if
//! any other family differs, and also if a listed exception stops differing (so the list
//! stays true).

mod support;

use std::collections::{BTreeMap, BTreeSet};

use aiplatform_metrics::MetricKind;
use aiplatform_node_exporter::collectors::COLLECTORS;
use aiplatform_testkit::{Exporter, Scrape, host};

/// Collectors node_exporter leaves off by default, compared too (enabled in both).
const NON_DEFAULT: [&str; 6] = [
    "interrupts",
    "ksmd",
    "meminfo_numa",
    "mountstats",
    "processes",
    "zoneinfo",
];

/// Families whose values cannot agree, and why. Their name, type, HELP and label names are
/// still compared.
const EXCEPTIONS: &[(&str, &str)] = &[
    (
        "node_exporter_build_info",
        "describes the build: version, revision and branch are this crate's, goversion names the Rust compiler",
    ),
    (
        "node_scrape_collector_duration_seconds",
        "how long each exporter took; only the series (one per collector) are compared",
    ),
];

/// Absolute tolerance for gauges (and untyped gauges) that move between scrapes on a busy
/// host; everything else must be exactly equal.
fn gauge_tolerance(name: &str, value: f64) -> f64 {
    // Generous where parallel builds and tests on the host move the value between reads, yet
    // far below what a wrong unit (x1024, x4096, /100) or a wrong field would produce.
    const MIB: f64 = 1024.0 * 1024.0;
    match name {
        n if n.starts_with("node_memory_numa_") => 2048.0 * MIB,
        n if n.starts_with("node_memory_") && n.ends_with("_bytes") => 2048.0 * MIB,
        n if n.starts_with("node_memory_") => 64.0,
        "node_load1" | "node_load5" | "node_load15" => 2.0,
        "node_procs_running" | "node_procs_blocked" => 64.0,
        "node_filefd_allocated" => 5000.0,
        n if n.starts_with("node_sockstat_") && n.ends_with("_mem_bytes") => 64.0 * MIB,
        n if n.starts_with("node_sockstat_TCP_mem") || n.starts_with("node_sockstat_UDP_mem") => {
            16384.0
        }
        n if n.starts_with("node_sockstat_") => 2000.0,
        "node_filesystem_free_bytes" | "node_filesystem_avail_bytes" => 4096.0 * MIB,
        "node_filesystem_files_free" => 500_000.0,
        "node_disk_io_now" => 64.0,
        "node_time_seconds" => 30.0,
        "node_netstat_Tcp_CurrEstab" => 500.0,
        "node_nf_conntrack_entries" => 500.0,
        "node_arp_entries" => 16.0,
        "node_udp_queues" => 4.0 * MIB,
        "node_entropy_available_bits" => 4096.0,
        // The kernel's NTP state moves between reads; these bounds are still far below a
        // wrong unit (µs read as ns, ppm read as a ratio).
        "node_timex_offset_seconds" | "node_timex_estimated_error_seconds" => 0.01,
        "node_timex_maxerror_seconds" => 0.5,
        "node_timex_frequency_adjustment_ratio" => 1e-5,
        n if n.starts_with("node_zoneinfo_") => 600_000.0,
        n if n.starts_with("node_processes_") => 2000.0,
        _ => 1e-9 * value.abs(),
    }
}

/// Untyped families that are gauges (the rest of netstat and vmstat only grow).
fn untyped_is_gauge(name: &str) -> bool {
    matches!(
        name,
        "node_netstat_Tcp_CurrEstab" | "node_netstat_Ip_Forwarding"
    )
}

/// Families with one series per process state present.
fn counts_by_state(name: &str) -> bool {
    matches!(
        name,
        "node_processes_state" | "node_processes_threads_state"
    )
}

type Series = BTreeMap<BTreeMap<String, String>, f64>;

struct Family {
    kind: MetricKind,
    help: String,
    labels: BTreeSet<String>,
    series: Series,
}

fn families(scrape: &Scrape) -> BTreeMap<String, Family> {
    let mut out = BTreeMap::new();
    for f in scrape.families() {
        let labels = f.label_names().into_iter().map(str::to_owned).collect();
        let series = f
            .series
            .iter()
            .filter_map(|s| Some((s.labels.clone(), s.scalar()?)))
            .collect();
        out.insert(
            f.name.clone(),
            Family {
                kind: f.kind,
                help: f.help.clone(),
                labels,
                series,
            },
        );
    }
    out
}

fn args(extra: &[&str], collectors: &[String]) -> Vec<String> {
    let mut a: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    a.push("--collector.disable-defaults".into());
    a.extend(collectors.iter().map(|c| format!("--collector.{c}")));
    a
}

/// What Go exposes with every default collector on: its `node_*` family names, and the
/// collectors it ran.
fn go_defaults() -> (BTreeSet<String>, BTreeSet<String>) {
    let go = Exporter::start(host::go_exporter("node"), &[] as &[&str], |_| {});
    let scrape = go.scrape();
    let names = scrape
        .families()
        .iter()
        .map(|f| f.name.clone())
        .filter(|n| n.starts_with("node_"))
        .collect();
    let collectors = scrape
        .series("node_scrape_collector_success")
        .iter()
        .filter_map(|s| s.labels.get("collector").cloned())
        .collect();
    (names, collectors)
}

/// Compares one family; `Err` says what differs.
fn compare(name: &str, before: &Family, ours: &Family, after: &Family) -> Result<(), String> {
    if ours.kind != before.kind {
        return Err(format!("type {:?}, Go {:?}", ours.kind, before.kind));
    }
    if ours.help != before.help {
        return Err(format!("HELP {:?}, Go {:?}", ours.help, before.help));
    }
    if ours.labels != before.labels {
        return Err(format!(
            "label names {:?}, Go {:?}",
            ours.labels, before.labels
        ));
    }
    let go_keys: BTreeSet<_> = before.series.keys().chain(after.series.keys()).collect();
    let our_keys: BTreeSet<_> = ours.series.keys().collect();
    if counts_by_state(name) {
        // A state no process is in has no series: one that comes and goes between reads
        // (the scraping process itself running) counts as 0 on the side that lacks it.
        let keys: BTreeSet<_> = go_keys.iter().chain(our_keys.iter()).copied().collect();
        for k in keys {
            let get = |f: &Family| f.series.get(k).copied().unwrap_or(0.0);
            let (a, b, v) = (get(before), get(after), get(ours));
            let tol = gauge_tolerance(name, v);
            if v < a.min(b) - tol || v > a.max(b) + tol {
                return Err(format!(
                    "{k:?}: ours {v}, Go {a} then {b} (tolerance {tol})"
                ));
            }
        }
        return Ok(());
    }
    if !our_keys.iter().all(|k| go_keys.contains(k))
        || !before.series.keys().all(|k| our_keys.contains(k))
    {
        return Err(format!("series {our_keys:?}, Go {go_keys:?}"));
    }
    let counter = match before.kind {
        MetricKind::Counter => true,
        MetricKind::Unknown => !untyped_is_gauge(name),
        _ => false,
    };
    for (labels, &v) in &ours.series {
        let (Some(&a), Some(&b)) = (before.series.get(labels), after.series.get(labels)) else {
            continue;
        };
        let (lo, hi) = (a.min(b), a.max(b));
        let tol = if counter {
            // A kernel counter read between two Go reads lies between them; /proc/stat's idle
            // and iowait may step back a tick.
            1e-9 * v.abs()
                + if name == "node_cpu_seconds_total" {
                    0.5
                } else {
                    0.0
                }
        } else {
            gauge_tolerance(name, v)
        };
        if v < lo - tol || v > hi + tol {
            return Err(format!(
                "{labels:?}: ours {v}, Go {a} then {b} (tolerance {tol})"
            ));
        }
    }
    Ok(())
}

#[test]
fn debian12_profile_matches_debians_node_exporter() {
    let (all_families, go_collectors) = go_defaults();
    let ours_names: BTreeSet<&str> = COLLECTORS.iter().map(|c| c.name).collect();
    let shared: Vec<String> = go_collectors
        .iter()
        .filter(|c| ours_names.contains(c.as_str()))
        .cloned()
        .chain(NON_DEFAULT.iter().map(|c| c.to_string()))
        .collect();
    let lacking: Vec<&String> = go_collectors
        .iter()
        .filter(|c| !ours_names.contains(c.as_str()))
        .collect();
    println!("collectors compared: {shared:?}; Go's defaults we lack: {lacking:?}");
    let go = Exporter::start(host::go_exporter("node"), &args(&[], &shared), |_| {});
    let rust = support::start_ours(&args(&["--compat=debian12"], &shared));
    // Warm both up (the first scrape of either sets up caches), then read Go, us, Go.
    go.scrape();
    rust.scrape();
    let (a, b, c) = (go.scrape(), rust.scrape(), go.scrape());
    let (before, ours, after) = (families(&a), families(&b), families(&c));

    let mut differing: BTreeMap<String, String> = BTreeMap::new();
    let mut compared = 0;
    for (name, go_family) in &before {
        if !name.starts_with("node_") {
            continue;
        }
        compared += 1;
        let Some(our_family) = ours.get(name) else {
            differing.insert(name.clone(), "missing from our output".into());
            continue;
        };
        let empty = Family {
            kind: go_family.kind,
            help: String::new(),
            labels: BTreeSet::new(),
            series: Series::new(),
        };
        let later = after.get(name).unwrap_or(&empty);
        if let Some((_, why)) = EXCEPTIONS.iter().find(|(n, _)| n == name) {
            // Shape only.
            let shape = (our_family.kind == go_family.kind)
                && our_family.help == go_family.help
                && our_family.labels == go_family.labels
                && our_family.series.len() == go_family.series.len();
            if !shape {
                differing.insert(
                    name.clone(),
                    format!("shape differs (kind, HELP, labels or series count); exception: {why}"),
                );
            } else {
                differing.insert(name.clone(), (*why).to_owned());
            }
            continue;
        }
        if let Err(why) = compare(name, go_family, our_family, later) {
            differing.insert(name.clone(), why);
        }
    }
    for name in ours
        .keys()
        .filter(|n| n.starts_with("node_") && !before.contains_key(*n))
    {
        differing.insert(name.clone(), "only in our output".into());
    }
    // Self-metrics: same names and types, values naturally differ.
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
        "process_virtual_memory_bytes",
        "promhttp_metric_handler_requests_total",
    ] {
        let (Some(g), Some(o)) = (before.get(name), ours.get(name)) else {
            differing.insert(name.into(), "self-metric missing".into());
            continue;
        };
        if g.kind != o.kind || g.help != o.help {
            differing.insert(name.into(), "self-metric type or HELP differs".into());
        }
    }
    assert!(
        !ours.keys().any(|n| n.starts_with("go_")),
        "no go_* families by design"
    );

    let uncovered: Vec<&String> = all_families
        .iter()
        .filter(|n| !before.contains_key(*n))
        .collect();
    let covered = all_families.len() - uncovered.len();
    println!(
        "covered {covered}/{} node_* families of Go's default collectors",
        all_families.len()
    );
    assert!(
        uncovered.is_empty(),
        "families Go exposes with its defaults that no shared collector gives: {uncovered:?}"
    );
    println!("compared {compared} node_* families; not matched:");
    for (name, why) in &differing {
        println!("  {name}: {why}");
    }
    let expected: BTreeSet<&str> = EXCEPTIONS.iter().map(|(n, _)| *n).collect();
    let got: BTreeSet<&str> = differing.keys().map(String::as_str).collect();
    assert_eq!(
        got, expected,
        "families not matched other than the documented exceptions:\n{differing:#?}"
    );
    assert!(compared > 100, "only {compared} families compared");
}

/// `--collector.cpu.info` with both filters, which the default run leaves off: the same
/// `node_cpu_info`, `node_cpu_flag_info` and `node_cpu_bug_info` as Go's.
#[test]
fn cpu_info_matches_debians_node_exporter() {
    let flags = [
        "--collector.disable-defaults",
        "--collector.cpu",
        "--collector.cpu.info",
        "--collector.cpu.info.flags-include=^(a|s|f)",
        "--collector.cpu.info.bugs-include=.",
    ];
    let go = Exporter::start(host::go_exporter("node"), &flags, |_| {});
    let mut ours: Vec<&str> = flags.to_vec();
    ours.push("--compat=debian12");
    let rust = support::start_ours(&ours.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let (g, o) = (families(&go.scrape()), families(&rust.scrape()));
    for name in ["node_cpu_info", "node_cpu_flag_info", "node_cpu_bug_info"] {
        let (Some(gf), Some(of)) = (g.get(name), o.get(name)) else {
            // A CPU without bugs has no node_cpu_bug_info in either.
            assert_eq!(g.contains_key(name), o.contains_key(name), "{name}");
            continue;
        };
        assert_eq!((&of.help, &of.labels), (&gf.help, &gf.labels), "{name}");
        assert_eq!(of.series, gf.series, "{name}");
    }
    assert!(g.contains_key("node_cpu_info") && g.contains_key("node_cpu_flag_info"));
    let names: BTreeSet<&String> = o.keys().filter(|n| n.starts_with("node_cpu")).collect();
    let go_names: BTreeSet<&String> = g.keys().filter(|n| n.starts_with("node_cpu")).collect();
    assert_eq!(names, go_names);
}
