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
        let name = s.labels.get("collector").map(String::as_str).unwrap_or("");
        // Their sources are absent from this tree, so they report no data (success 0) as
        // node_exporter does; their own fixture trees are in `collector_cases.rs`.
        let want = if support::NO_SOURCE_HERE.contains(&name) {
            0.0
        } else {
            1.0
        };
        assert_eq!(
            s.scalar(),
            Some(want),
            "collector {name} on the fixture tree: {s:?}"
        );
    }
}

/// What a line diff against node_exporter needs: label names in client_golang's order
/// (sorted) and families in its order (sorted by the name written, a counter's with `_total`).
#[test]
fn labels_and_families_in_client_golang_order() {
    for compat in [Compat::Upstream, Compat::Debian12] {
        let text = support::scrape_in_process(&support::fixture_config(compat));
        let mut names = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                names.push(rest.split(' ').next().unwrap().to_owned());
                continue;
            }
            if line.starts_with('#') || !line.contains('{') {
                continue;
            }
            let got = label_names(line);
            let mut want = got.clone();
            want.sort();
            assert_eq!(got, want, "{compat:?}: label order of {line}");
        }
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "{compat:?}: family order");
    }
}

/// The label names of a sample line, in the order written.
fn label_names(line: &str) -> Vec<String> {
    let body = &line[line.find('{').unwrap() + 1..];
    let mut names = Vec::new();
    let mut chars = body.chars();
    let mut name = String::new();
    while let Some(c) = chars.next() {
        match c {
            '}' => break,
            '=' => {
                names.push(std::mem::take(&mut name));
                assert_eq!(chars.next(), Some('"'));
                // The quoted value, with backslash escapes.
                while let Some(v) = chars.next() {
                    match v {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            ',' => {}
            c => name.push(c),
        }
    }
    names
}
