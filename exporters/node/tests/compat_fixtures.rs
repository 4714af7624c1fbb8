//! The hardware, RAID, NFS and filesystem collectors on their fixture trees
//! (`tests/fixtures/trees/<collector>/<case>/`), ours with `--compat=debian12` beside Debian
//! 12's Go `prometheus-node-exporter` (node_exporter 1.5.0) pointed at the same tree: every
//! `node_*` family the same name, type, HELP, series and values, and the same
//! `node_scrape_collector_success`. This host has none of these sources, so the trees are
//! where the two are compared on real data.
//!
//! Two normalisations, both without effect on what Prometheus stores: HELP is compared
//! trimmed (our exposition trims it; hwmon's fallback HELP ends in a blank in Go), and labels
//! with empty values are dropped (Prometheus drops them on ingestion; our
//! `node_power_supply_info` has one label set for all supplies, empty where a supply lacks
//! the attribute, where Go writes each supply with only its own labels).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use aiplatform_testkit::{Exporter, Scrape, host};

/// Cases left out, and why.
const SKIPPED: &[(&str, &str, &str)] = &[
    (
        "zfs",
        "garbage",
        "Go walks the kstat files in random (map) order and stops at the bad one, so which families it emitted first varies from scrape to scrape",
    ),
    (
        "zfs",
        "truncated",
        "Go panics (index out of range) on a pool io line shorter than its header; ours reports the collector failed",
    ),
];

type Families = BTreeMap<String, (String, String, BTreeMap<BTreeMap<String, String>, u64>)>;

/// `node_*` families: name → (type, trimmed HELP, series → value bits); durations and build
/// information left out.
fn families(scrape: &Scrape) -> Families {
    let mut out = Families::new();
    for f in scrape.families() {
        if !f.name.starts_with("node_")
            || f.name == "node_exporter_build_info"
            || f.name == "node_scrape_collector_duration_seconds"
        {
            continue;
        }
        let series = f
            .series
            .iter()
            .filter_map(|s| {
                let labels = s
                    .labels
                    .iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Some((labels, s.scalar()?.to_bits()))
            })
            .collect();
        out.insert(
            f.name.clone(),
            (format!("{:?}", f.kind), f.help.trim().to_owned(), series),
        );
    }
    out
}

fn dir_or(root: &Path, sub: &str, empty: &Path) -> PathBuf {
    let p = root.join(sub);
    if p.is_dir() { p } else { empty.to_owned() }
}

#[test]
fn hardware_collectors_match_debians_node_exporter_on_the_fixture_trees() {
    let go = host::go_exporter("node");
    let trees = support::fixture("trees");
    // node_exporter refuses to start when a --path.* root does not exist.
    let empty = std::env::temp_dir().join(format!("node-compat-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let mut collectors: Vec<String> = std::fs::read_dir(&trees)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    collectors.sort();
    let mut compared = 0;
    let mut differences = Vec::new();
    for collector in &collectors {
        let mut cases: Vec<String> = std::fs::read_dir(trees.join(collector))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        cases.sort();
        for case in &cases {
            if SKIPPED.iter().any(|(c, k, _)| c == collector && k == case) {
                continue;
            }
            let root = trees.join(collector).join(case);
            let args = vec![
                format!("--path.procfs={}", dir_or(&root, "proc", &empty).display()),
                format!("--path.sysfs={}", dir_or(&root, "sys", &empty).display()),
                format!("--path.rootfs={}", root.display()),
                "--collector.disable-defaults".to_owned(),
                format!("--collector.{collector}"),
            ];
            let theirs = families(&Exporter::start(&go, &args, |_| {}).scrape());
            let mut ours_args = vec!["--compat=debian12".to_owned()];
            ours_args.extend(args);
            let ours = families(&support::start_ours(&ours_args).scrape());
            compared += 1;
            let names: BTreeSet<&String> = theirs.keys().chain(ours.keys()).collect();
            for name in names {
                match (theirs.get(name), ours.get(name)) {
                    (Some(t), Some(o)) if t == o => {}
                    (t, o) => differences.push(format!(
                        "{collector}/{case} {name}:\n  Go   {t:?}\n  ours {o:?}"
                    )),
                }
            }
        }
    }
    std::fs::remove_dir_all(&empty).ok();
    assert!(compared >= 30, "only {compared} cases compared");
    assert!(
        differences.is_empty(),
        "{} differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
}
