//! What the exporter says about itself besides the shared server's `process_*` and
//! `promhttp_*`: `node_exporter_build_info`, with the label set of the profile's
//! node_exporter. (`node_scrape_collector_*` come from the collector set.)

use aiplatform_metrics::collect::Collector;
use aiplatform_metrics::{MetricFamily, MetricKind};

use aiplatform_prometheus::Compat;
use aiplatform_prometheus::family::{family, push};

/// HELP of `node_exporter_build_info` since prometheus/common added `goos` and `goarch`
/// (the Debian 12 build of 1.5.0 already has them).
pub const HELP: &str = "A metric with a constant '1' value labeled by version, revision, branch, goversion from which node_exporter was built, and the goos and goarch for the build.";

/// Go's name for this architecture (`amd64`, `arm64`, ...).
pub fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64",
        other => other,
    }
}

/// A collector for `node_exporter_build_info` (value 1). `goversion` names the Rust compiler
/// (`rustc1.95.0`): dashboards keyed on the label keep a value, and nobody is misled into
/// thinking this is a Go build. Upstream adds `tags` (`unknown`, as an untagged Go build).
pub fn build_info_collector(
    compat: Compat,
    version: &str,
    revision: &str,
) -> impl Collector + use<> {
    let version = version.to_owned();
    let revision = revision.to_owned();
    let goversion = format!("rustc{}", aiplatform_prometheus::RUST_VERSION);
    move |out: &mut Vec<MetricFamily>| {
        let base = ["branch", "goarch", "goos", "goversion", "revision"];
        let values = ["", goarch(), std::env::consts::OS, &goversion, &revision];
        let mut f;
        if compat.is_debian12() {
            f = family(
                MetricKind::Gauge,
                "node_exporter_build_info",
                HELP,
                &[&base[..], &["version"]].concat(),
            );
            push(&mut f, &[&values[..], &[version.as_str()]].concat(), 1.0);
        } else {
            f = family(
                MetricKind::Gauge,
                "node_exporter_build_info",
                HELP,
                &[&base[..], &["tags", "version"]].concat(),
            );
            push(
                &mut f,
                &[&values[..], &["unknown", version.as_str()]].concat(),
                1.0,
            );
        }
        out.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets_per_profile() {
        let mut out = Vec::new();
        build_info_collector(Compat::Debian12, "0.1.0", "abc").collect(&mut out);
        let names: Vec<&str> = out[0].label_names().collect();
        assert_eq!(
            names,
            [
                "branch",
                "goarch",
                "goos",
                "goversion",
                "revision",
                "version"
            ]
        );
        let mut out = Vec::new();
        build_info_collector(Compat::Upstream, "0.1.0", "abc").collect(&mut out);
        assert!(out[0].label_names().any(|n| n == "tags"));
    }
}
