//! A kernel without the feature (no netfilter module, no `/sys/class/net`, no softnet file,
//! ...): each collector emits nothing and reports no data (node_exporter's `ErrNoData`,
//! logged at debug level), never a failure; a garbled source is a failure.

mod support;

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiplatform_node_exporter::collectors::COLLECTORS;
use aiplatform_node_exporter::collectors::timex::{Adjtimex, Timex};
use aiplatform_node_exporter::config::Config;
use aiplatform_node_exporter::paths::Paths;
use aiplatform_prometheus::{CollectError, Compat, ScrapeContext};

#[derive(Debug)]
struct NotPermitted;

impl Adjtimex for NotPermitted {
    fn adjtimex(&self) -> io::Result<(i32, Timex)> {
        Err(io::Error::from(io::ErrorKind::PermissionDenied))
    }
}

fn run(cfg: &Config, name: &str) -> (Result<(), CollectError>, usize) {
    let spec = COLLECTORS.iter().find(|s| s.name == name).unwrap();
    let collector = spec.build(cfg);
    let mut out = Vec::new();
    let ctx = ScrapeContext::new(Instant::now() + Duration::from_secs(5));
    let r = collector.collect(&ctx, &mut out);
    (r, out.len())
}

#[test]
fn absent_sources_are_no_data_and_nothing() {
    let empty = support::fixture("empty");
    let mut cfg = Config::defaults(Paths::new(&empty, &empty, &empty, &empty), Compat::Upstream);
    cfg.adjtimex = Arc::new(NotPermitted);
    for name in [
        "arp",
        "bcachefs",
        "conntrack",
        "dmmultipath",
        "entropy",
        "kernel_hung",
        "netclass",
        "softnet",
        "timex",
        "udp_queues",
    ] {
        let (r, families) = run(&cfg, name);
        assert!(
            matches!(r, Err(CollectError::NoData)),
            "{name}: {r:?} (want no data)"
        );
        assert_eq!(families, 0, "{name} emitted families without a source");
    }
    // node_exporter always reports whether SELinux is on.
    let (r, families) = run(&cfg, "selinux");
    assert!(r.is_ok() && families == 1, "{r:?} {families}");
}

#[test]
fn garbled_sources_fail() {
    let garbage = support::fixture("garbage/proc");
    let sys = support::fixture("sys");
    let cfg = Config::defaults(Paths::new(&garbage, &sys, &sys, &sys), Compat::Debian12);
    for name in ["arp", "conntrack", "softnet", "udp_queues"] {
        let (r, _) = run(&cfg, name);
        assert!(
            matches!(r, Err(CollectError::Failed(_))),
            "{name}: {r:?} (want a failure)"
        );
    }
}
