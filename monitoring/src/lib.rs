//! Checks for the deployable monitoring assets of this repository.
//!
//! The assets themselves (Prometheus configuration and rules, Alertmanager routing, Grafana
//! dashboards, the log pipeline and indices, the compose stack and the Kubernetes manifests) are
//! plain files under `monitoring/` and `deploy/`. This crate holds no runtime code: its
//! integration tests read those files and hand each one to the tool that will read it in
//! production, or to the closest validator that runs offline, so that a file that would be
//! rejected, or a query that names a metric no binary exposes, fails the test suite.

use std::path::{Path, PathBuf};

pub mod alertmanager;
pub mod binaries;
pub mod configmaps;
pub mod es_spec;
pub mod grafana;
pub mod logstash;
pub mod mappings;
pub mod mock_http;
pub mod postgres;
pub mod process;
pub mod prometheus_config;
pub mod promql;
pub mod rules;
pub mod stack;
pub mod tools;
pub mod webhook;

/// The repository root, where `monitoring/` and `deploy/` live.
///
/// ```
/// assert!(aiplatform_monitoring::repo_root().join("monitoring").is_dir());
/// ```
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the monitoring crate lives one level below the repository root")
        .to_path_buf()
}
