//! The textfile collector's promises: a bad file is flagged and skipped, every other file is
//! still exported, mtimes only for files read, globbed directories, and names kept as written.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_node_exporter::collectors::textfile::TextfileCollector;
use aiplatform_prometheus::{BlockingCollector, ScrapeContext};
use aiplatform_testkit::{SnapshotLookup, TempDir};

fn collect(dir: Option<PathBuf>) -> Vec<MetricFamily> {
    let ctx = ScrapeContext::new(Instant::now() + Duration::from_secs(5));
    let mut out = Vec::new();
    TextfileCollector::new(dir).collect(&ctx, &mut out).unwrap();
    out
}

fn mtime_files(out: &[MetricFamily]) -> Vec<String> {
    out.iter()
        .find(|f| f.name() == "node_textfile_mtime_seconds")
        .map(|f| f.samples().map(|s| s.labels.value(0).to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn a_bad_file_is_flagged_and_the_rest_exported() {
    let dir = TempDir::new("textfile");
    std::fs::write(
        dir.join("a_good.prom"),
        "# HELP ok_metric Fine.\n# TYPE ok_metric gauge\nok_metric 7\n",
    )
    .unwrap();
    std::fs::write(dir.join("b_broken.prom"), "broken{ 1\n").unwrap();
    std::fs::write(dir.join("c_stamped.prom"), "stamped 1 1700000000000\n").unwrap();
    std::fs::write(
        dir.join("d_clash.prom"),
        "# HELP ok_metric Different.\nok_metric 1\n",
    )
    .unwrap();
    std::fs::write(dir.join("e_also_good.prom"), "another 2\n").unwrap();
    std::fs::write(dir.join("ignored.txt"), "not_read 1\n").unwrap();
    let out = collect(Some(dir.path().to_owned()));
    assert_eq!(out.value("ok_metric", &[]), Some(7.0));
    assert_eq!(out.value("another", &[]), Some(2.0));
    assert!(out.value("stamped", &[]).is_none() && out.value("not_read", &[]).is_none());
    assert_eq!(out.value("node_textfile_scrape_error", &[]), Some(1.0));
    let files = mtime_files(&out);
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files[0].ends_with("a_good.prom") && files[1].ends_with("e_also_good.prom"));
    let help = out
        .iter()
        .find(|f| f.name() == "another")
        .unwrap()
        .help()
        .to_owned();
    assert!(help.starts_with("Metric read from ") && help.ends_with("e_also_good.prom"));
}

#[test]
fn empty_missing_and_unset_directories() {
    let empty = TempDir::new("textfile");
    let out = collect(Some(empty.path().to_owned()));
    assert_eq!(out.value("node_textfile_scrape_error", &[]), Some(0.0));
    assert!(mtime_files(&out).is_empty());
    let out = collect(Some(PathBuf::from("/nonexistent/textfile/dir")));
    assert_eq!(out.value("node_textfile_scrape_error", &[]), Some(1.0));
    let out = collect(None);
    assert_eq!(out.value("node_textfile_scrape_error", &[]), Some(0.0));
    assert_eq!(out.len(), 1);
}

#[test]
fn globbed_directories_and_names_kept_as_written() {
    let root = TempDir::new("textfile");
    for d in ["one", "two"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("one/x.prom"), "# TYPE jobs counter\njobs 3\n").unwrap();
    std::fs::write(
        root.join("two/y.prom"),
        "# TYPE runs_total counter\nruns_total 4\n",
    )
    .unwrap();
    let out = collect(Some(root.join("*")));
    assert_eq!(mtime_files(&out).len(), 2);
    let jobs = out.iter().find(|f| f.name() == "jobs").unwrap();
    assert_eq!(jobs.kind(), MetricKind::Counter);
    let runs = out.iter().find(|f| f.name() == "runs").unwrap();
    assert_eq!(runs.kind(), MetricKind::Counter);
    assert_eq!(out.value("runs", &[]), Some(4.0));
    // Both counters are written under the names their files gave them.
    let mut snapshot = aiplatform_metrics::Snapshot::new();
    aiplatform_metrics::Registry::new().collect_into_with(&mut snapshot, out);
    let text = aiplatform_metrics::encode(&snapshot, aiplatform_metrics::ExpositionFormat::Text);
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("# TYPE jobs counter\njobs 3\n"), "{text}");
    assert!(
        text.contains("# TYPE runs_total counter\nruns_total 4\n"),
        "{text}"
    );
}

#[test]
fn the_same_family_in_two_files_is_merged() {
    let dir = TempDir::new("textfile");
    std::fs::write(
        dir.join("a.prom"),
        "# TYPE temp gauge\ntemp{room=\"a\"} 20\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("b.prom"),
        "# TYPE temp gauge\ntemp{room=\"b\"} 21\n",
    )
    .unwrap();
    let out = collect(Some(dir.path().to_owned()));
    let temp: Vec<_> = out.iter().filter(|f| f.name() == "temp").collect();
    assert_eq!(temp.len(), 1);
    assert_eq!(temp[0].len(), 2);
    assert_eq!(out.value("node_textfile_scrape_error", &[]), Some(0.0));
}
