//! Deterministic end-to-end output: every collector run against the fixture tree
//! (`tests/fixtures`, with a stand-in statfs and `/proc/net/dev` instead of netlink), encoded,
//! and compared with `tests/golden/<profile>.txt`. Lines that depend on the host or the clock
//! (uname, time, scrape durations) are dropped first, as node_exporter's end-to-end test does.
//!
//! `UPDATE_GOLDEN=1 cargo test -p aiplatform-node-exporter --test golden` rewrites the files.

mod support;

use std::path::Path;

use aiplatform_prometheus::Compat;

fn deterministic(text: &str) -> String {
    const VOLATILE: [&str; 4] = [
        "node_uname_info",
        "node_time_seconds",
        "node_time_zone_offset_seconds",
        "node_scrape_collector_duration_seconds",
    ];
    text.lines()
        .filter(|l| {
            let name = l
                .strip_prefix("# HELP ")
                .or_else(|| l.strip_prefix("# TYPE "))
                .unwrap_or(l);
            !VOLATILE.iter().any(|v| {
                name.strip_prefix(v)
                    .is_some_and(|rest| rest.starts_with([' ', '{']))
            })
        })
        .map(|l| {
            // Paths (textfile HELP and mtime labels) are the checkout's: written as <crate>.
            let l = l.replace(env!("CARGO_MANIFEST_DIR"), "<crate>");
            // The textfile mtime is the checkout's; keep the series, not the time.
            if l.starts_with("node_textfile_mtime_seconds{") {
                let (series, _) = l.rsplit_once(' ').unwrap();
                format!("{series} <mtime>\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

fn check(profile: &str, compat: Compat) {
    let text = support::scrape_in_process(&support::fixture_config(compat));
    let got = deterministic(&text);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/{profile}.txt"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    if got != want {
        let diff: Vec<String> = want
            .lines()
            .filter(|l| !got.lines().any(|g| g == *l))
            .map(|l| format!("- {l}"))
            .chain(
                got.lines()
                    .filter(|l| !want.lines().any(|w| w == *l))
                    .map(|l| format!("+ {l}")),
            )
            .collect();
        panic!(
            "{profile} output differs from {} (UPDATE_GOLDEN=1 to accept):\n{}",
            path.display(),
            diff.join("\n")
        );
    }
}

#[test]
fn upstream_profile_matches_golden_file() {
    check("upstream", Compat::Upstream);
}

#[test]
fn debian12_profile_matches_golden_file() {
    check("debian12", Compat::Debian12);
}

#[test]
fn every_collector_succeeds_on_the_fixture_tree() {
    let text = support::scrape_in_process(&support::fixture_config(Compat::Upstream));
    let scrape = aiplatform_testkit::Scrape::parse(text);
    let success = scrape.series("node_scrape_collector_success");
    assert_eq!(success.len(), support::default_collectors(), "{success:?}");
    for s in success {
        assert_eq!(
            s.scalar(),
            Some(1.0),
            "collector failed on the fixture tree: {s:?}"
        );
    }
}
