//! What the node exporter's integration tests share: the fixture tree, a deterministic
//! statfs, running the collectors in process, and our binary on a free port.
#![allow(dead_code)]

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aiplatform_metrics::{ExpositionFormat, Registry};
use aiplatform_node_exporter::collectors::collector_set;
use aiplatform_node_exporter::collectors::cpu::CpuInfoConfig;
use aiplatform_node_exporter::collectors::statfs::{FsStats, StatFs};
use aiplatform_node_exporter::collectors::timex::{Adjtimex, Timex};
use aiplatform_node_exporter::config::Config;
use aiplatform_node_exporter::paths::Paths;
use aiplatform_prometheus::Compat;
use aiplatform_prometheus::{Exposition, ScrapeOptions};
use aiplatform_testkit::Exporter;

/// `tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// Collectors whose source the fixture tree does not have: they report no data
/// (`node_scrape_collector_success` 0) as node_exporter does; their own fixture trees are in
/// `collector_cases.rs`.
pub const NO_SOURCE_HERE: &[&str] = &[
    "bonding",
    "hwmon",
    "mdadm",
    "nfs",
    "nfsd",
    "nvme",
    "powersupplyclass",
    "zfs",
];

/// Paths into the fixture tree.
pub fn fixture_paths() -> Paths {
    Paths::new(
        fixture("proc"),
        fixture("sys"),
        fixture("rootfs"),
        fixture("udev"),
    )
}

/// A statfs with numbers derived from the mount point (the path below the fixture rootfs, so
/// the figures do not depend on where the checkout lives); `/srv/with space` answers EACCES.
#[derive(Debug)]
pub struct FakeStatFs;

impl StatFs for FakeStatFs {
    fn statfs(&self, path: &Path) -> io::Result<FsStats> {
        let root = fixture("rootfs");
        let p = path.strip_prefix(&root).unwrap_or(path).to_string_lossy();
        if p.ends_with("/srv/with space") {
            return Err(io::Error::from_raw_os_error(13)); // EACCES
        }
        let n = p.len() as u64;
        Ok(FsStats {
            blocks: 1000 * n,
            bfree: 400 * n,
            bavail: 300 * n,
            files: 5000 + n,
            ffree: 4000 + n,
            bsize: 4096,
        })
    }
}

/// A clock synchronised with a PPS source, in nanosecond mode.
#[derive(Debug)]
pub struct FakeAdjtimex;

impl Adjtimex for FakeAdjtimex {
    fn adjtimex(&self) -> io::Result<(i32, Timex)> {
        Ok((
            0,
            Timex {
                offset: -123_456,
                freq: -1_234_567,
                maxerror: 16_000,
                esterror: 500,
                status: 0x2001,
                constant: 7,
                tick: 10_000,
                ppsfreq: 65_536,
                jitter: 2_000,
                shift: 4,
                stabil: 131_072,
                jitcnt: 1,
                calcnt: 2,
                errcnt: 3,
                stbcnt: 4,
                tai: 37,
            },
        ))
    }
}

/// The fixture configuration for a profile: netdev from `/proc/net/dev`, fake statfs and
/// adjtimex, the fixture textfile directory, `--collector.cpu.info` with both filters.
pub fn fixture_config(compat: Compat) -> Config {
    let mut cfg = Config::defaults(fixture_paths(), compat);
    cfg.netdev_netlink = false;
    cfg.filesystem.statfs = Arc::new(FakeStatFs);
    cfg.adjtimex = Arc::new(FakeAdjtimex);
    cfg.cpu_info = CpuInfoConfig {
        enabled: true,
        flags_include: Some(regex::Regex::new("^(aes|avx.*)$").unwrap()),
        bugs_include: Some(regex::Regex::new("spectre").unwrap()),
    };
    cfg.textfile_directory = Some(fixture("textfile"));
    cfg.stat_softirq = true;
    cfg
}

/// Runs every collector once in process and returns the text exposition.
pub fn scrape_in_process(cfg: &Config) -> String {
    let set = collector_set(cfg, None).expect("collectors register");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let families = rt.block_on(set.scrape(ScrapeOptions::default()));
    let exposition = Exposition::new(Registry::new());
    let mut out = Vec::new();
    exposition.encode_into(ExpositionFormat::Text, families, &mut out);
    String::from_utf8(out).expect("UTF-8 exposition")
}

/// How many collectors run by default.
pub fn default_collectors() -> usize {
    aiplatform_node_exporter::collectors::COLLECTORS
        .iter()
        .filter(|c| c.default == aiplatform_prometheus::DefaultState::Enabled)
        .count()
}

/// Our binary.
pub fn ours() -> &'static str {
    env!("CARGO_BIN_EXE_aiplatform-node-exporter")
}

/// Our binary, listening on a free port with `args`.
pub fn start_ours(args: &[String]) -> Exporter {
    Exporter::start(ours(), args, |_| {})
}
