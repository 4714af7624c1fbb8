//! Build information: the `--version` text of prometheus/common's `version.Print`, and the
//! `<program>_build_info` gauge.

use std::fmt::Write as _;

use aiplatform_metrics::collect::Collector;
use aiplatform_metrics::{MetricFamily, MetricKind};

/// The compiler that built this crate (and so the binary).
pub const RUST_VERSION: &str = env!("AIPLATFORM_PROMETHEUS_RUSTC_VERSION");

/// What a binary says about itself.
///
/// ```
/// use aiplatform_prometheus::BuildInfo;
///
/// let info = BuildInfo::new("node_exporter", "0.1.0").revision("abc123").branch("main");
/// let text = info.version_text();
/// assert!(text.starts_with("node_exporter, version 0.1.0 (branch: main, revision: abc123)\n"));
/// assert!(text.contains("\n  platform:         linux/"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    program: String,
    version: String,
    revision: String,
    branch: String,
    build_user: String,
    build_date: String,
}

impl BuildInfo {
    /// `program` (`node_exporter`) at `version` (usually `env!("CARGO_PKG_VERSION")`).
    pub fn new(program: impl Into<String>, version: impl Into<String>) -> BuildInfo {
        BuildInfo {
            program: program.into(),
            version: version.into(),
            revision: String::new(),
            branch: String::new(),
            build_user: String::new(),
            build_date: String::new(),
        }
    }

    /// The VCS revision.
    pub fn revision(mut self, revision: impl Into<String>) -> BuildInfo {
        self.revision = revision.into();
        self
    }

    /// The VCS branch.
    pub fn branch(mut self, branch: impl Into<String>) -> BuildInfo {
        self.branch = branch.into();
        self
    }

    /// Who built it.
    pub fn build_user(mut self, user: impl Into<String>) -> BuildInfo {
        self.build_user = user.into();
        self
    }

    /// When it was built.
    pub fn build_date(mut self, date: impl Into<String>) -> BuildInfo {
        self.build_date = date.into();
        self
    }

    /// The program name.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// `--version` output, laid out as prometheus/common's `version.Print` (with the Rust
    /// compiler in place of Go's).
    pub fn version_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{}, version {} (branch: {}, revision: {})",
            self.program, self.version, self.branch, self.revision
        );
        let _ = writeln!(s, "  build user:       {}", self.build_user);
        let _ = writeln!(s, "  build date:       {}", self.build_date);
        let _ = writeln!(s, "  rust version:     rustc{RUST_VERSION}");
        let _ = writeln!(s, "  platform:         {}", platform());
        s
    }

    /// A collector for `<program>_build_info` (value 1) with node_exporter 1.5's label set
    /// (`branch`, `goversion`, `revision`, `version`); `goversion` carries the Rust compiler
    /// (`rustc1.95.0`) so dashboards keyed on the label keep a value.
    pub fn collector(&self) -> impl Collector + use<> {
        let info = self.clone();
        move |out: &mut Vec<MetricFamily>| {
            let help = format!(
                "A metric with a constant '1' value labeled by version, revision, branch, and goversion from which {} was built.",
                info.program
            );
            let Ok(mut f) = MetricFamily::builder(
                MetricKind::Gauge,
                &format!("{}_build_info", info.program),
                &help,
            )
            .label_names(&["branch", "goversion", "revision", "version"])
            .build() else {
                return;
            };
            let rust = format!("rustc{RUST_VERSION}");
            let _ = f.push_gauge(
                &[
                    info.branch.as_str(),
                    rust.as_str(),
                    info.revision.as_str(),
                    info.version.as_str(),
                ],
                1.0,
            );
            out.push(f);
        }
    }
}

/// `os/arch` with Go's architecture names.
fn platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiplatform_metrics::{ExpositionFormat, Registry};

    #[test]
    fn build_info_family() {
        let registry = Registry::new();
        registry.register_collector_without_namespace(
            BuildInfo::new("node_exporter", "0.1.0")
                .branch("main")
                .collector(),
        );
        let text = String::from_utf8(registry.encode(ExpositionFormat::Text)).unwrap();
        assert!(text.contains("# HELP node_exporter_build_info A metric with a constant '1' value labeled by version, revision, branch, and goversion from which node_exporter was built.\n"), "{text}");
        assert!(text.contains("# TYPE node_exporter_build_info gauge\n"));
        assert!(text.contains(&format!(
            "node_exporter_build_info{{branch=\"main\",goversion=\"rustc{RUST_VERSION}\",revision=\"\",version=\"0.1.0\"}} 1\n"
        )));
        assert!(!RUST_VERSION.is_empty());
    }

    #[test]
    fn version_text_layout() {
        let text = BuildInfo::new("redis_exporter", "1.2.3").version_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "redis_exporter, version 1.2.3 (branch: , revision: )"
        );
        assert_eq!(lines.len(), 5);
        assert!(lines[3].starts_with("  rust version:     rustc1."));
    }
}
