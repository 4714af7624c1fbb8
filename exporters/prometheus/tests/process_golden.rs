//! The `process_*` families' names, types and HELP against a golden file copied from
//! client_golang's `prometheus/process_collector.go` (the values vary; the metadata must not).

#![cfg(target_os = "linux")]

use aiplatform_metrics::{ExpositionFormat, Registry};
use aiplatform_prometheus::ProcessCollector;

const GOLDEN: &str = include_str!("golden/process_families.txt");

fn exposition(format: ExpositionFormat) -> String {
    let registry = Registry::builder().without_self_metrics().build().unwrap();
    registry.register_collector(ProcessCollector::new());
    String::from_utf8(registry.encode(format)).unwrap()
}

#[test]
fn text_metadata_matches_client_golang() {
    let text = exposition(ExpositionFormat::Text);
    let metadata: String = text
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(metadata, GOLDEN);
    // One sample per family, with the family's own name (counters keep `_total`).
    let samples: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        samples,
        [
            "process_cpu_seconds_total",
            "process_max_fds",
            "process_open_fds",
            "process_resident_memory_bytes",
            "process_start_time_seconds",
            "process_virtual_memory_bytes",
            "process_virtual_memory_max_bytes",
        ]
    );
}

#[test]
fn openmetrics_metadata() {
    let text = exposition(ExpositionFormat::OpenMetrics);
    assert!(
        text.contains("# TYPE process_cpu_seconds counter\n"),
        "{text}"
    );
    assert!(text.contains("process_cpu_seconds_total "), "{text}");
    assert!(text.ends_with("# EOF\n"));
}
