//! Every `/proc`, `/sys` and textfile parser against the committed cases in
//! `tests/fixtures/cases/<parser>/`: `normal` (taken from a real host), `truncated` (cut in the
//! middle of a line), `garbage` (binary junk) and `huge` (values at and past 64 bits). Each
//! outcome is pinned: which cases parse, which are refused, and what the huge values become.

mod support;

use std::fmt::Debug;

use aiplatform_node_exporter::collectors::{
    arp, conntrack, cpu, diskstats, entropy, filefd, filesystem, loadavg, meminfo, netdev, netstat,
    os, pressure, sockstat, softnet, stat, udp_queues, vmstat,
};
use aiplatform_node_exporter::error::ParseError;
use aiplatform_prometheus::textparse::{self, TextParseError};

type Pairs = Vec<(String, f64)>;

fn owned_pairs(v: Vec<(&str, f64)>) -> Pairs {
    v.into_iter().map(|(n, x)| (n.to_owned(), x)).collect()
}

fn owned_stats(v: Vec<netstat::ProtocolStats<'_>>) -> Vec<(String, Pairs)> {
    v.into_iter()
        .map(|(p, s)| (p.to_owned(), owned_pairs(s)))
        .collect()
}

fn case(parser: &str, name: &str) -> String {
    let bytes = std::fs::read(support::fixture(&format!("cases/{parser}/{name}"))).unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A parser's error, which must say where parsing stopped.
trait Located: Debug + std::fmt::Display {
    /// Whether the error names the source of `parser`'s cases.
    fn names_source_of(&self, parser: &str) -> bool;
}

/// A `/proc` or `/sys` parser names the file it read (`sys/fs/file-nr` for the `file-nr`
/// cases), first in its message.
impl Located for ParseError {
    fn names_source_of(&self, parser: &str) -> bool {
        self.source_name.replace('/', "-").ends_with(parser)
            && self.to_string().starts_with(self.source_name)
    }
}

/// The text exposition parser names the line it stopped at.
impl Located for TextParseError {
    fn names_source_of(&self, _: &str) -> bool {
        self.line > 0
            && self
                .to_string()
                .starts_with(&format!("line {}: ", self.line))
    }
}

/// `ok` or `err`, after checking the error names its source.
fn outcome<T: Debug, E: Located>(parser: &str, r: &Result<T, E>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => {
            assert!(
                e.names_source_of(parser),
                "{parser}: the error does not say where it stopped: {e} ({e:?})"
            );
            "err"
        }
    }
}

/// Runs `parse` on the four cases and checks the pinned outcomes (normal, truncated,
/// garbage, huge).
fn check<T: Debug, E: Located>(
    parser: &str,
    parse: impl Fn(&str) -> Result<T, E>,
    want: [&str; 4],
) -> [Result<T, E>; 4] {
    let results = ["normal", "truncated", "garbage", "huge"].map(|c| parse(&case(parser, c)));
    let got = [0, 1, 2, 3].map(|i| outcome(parser, &results[i]));
    assert_eq!(
        got, want,
        "{parser}: outcomes of normal, truncated, garbage, huge"
    );
    results
}

#[test]
fn loadavg() {
    let [normal, _, _, huge] = check("loadavg", loadavg::parse_loadavg, ["ok", "ok", "err", "ok"]);
    assert_eq!(normal.unwrap().load15, 1.63);
    let h = huge.unwrap();
    assert_eq!(
        (h.load1, h.load5, h.load15),
        (1e20, 1e308, 18446744073709551615.0)
    );
}

#[test]
fn file_nr() {
    let [normal, truncated, ..] =
        check("file-nr", filefd::parse_file_nr, ["ok", "ok", "err", "ok"]);
    assert_eq!(normal.unwrap().maximum, 2466170.0);
    assert_eq!(truncated.unwrap().maximum, 24.0, "cut in the last number");
    let huge = filefd::parse_file_nr(&case("file-nr", "huge")).unwrap();
    assert_eq!(huge.maximum, 18446744073709551616.0);
}

#[test]
fn meminfo() {
    let [normal, truncated, _, huge] = check(
        "meminfo",
        meminfo::parse_meminfo,
        ["ok", "err", "err", "ok"],
    );
    let normal = normal.unwrap();
    assert!(normal.iter().any(|f| f.name == "MemAvailable_bytes"));
    assert!(normal.iter().any(|f| f.name == "Active_anon_bytes"));
    assert!(normal.iter().any(|f| f.name == "HugePages_Total"));
    assert!(truncated.unwrap_err().line > 1);
    let huge = huge.unwrap();
    assert_eq!(huge[0].value, 18446744073709551615.0 * 1024.0);
    assert_eq!(huge[1].value, 1e23);
}

#[test]
fn stat() {
    let [normal, truncated, garbage, huge] =
        check("stat", stat::parse_stat, ["ok", "ok", "ok", "ok"]);
    let normal = normal.unwrap();
    assert_eq!(
        normal.cpus.iter().map(|c| c.0).collect::<Vec<_>>(),
        [0, 1, 3]
    );
    assert_eq!(normal.btime, 1795482450);
    // Cut inside `intr`: the lines before it are kept, the rest reads as zero.
    let truncated = truncated.unwrap();
    assert_eq!(truncated.cpus.len(), 3);
    assert_eq!(truncated.btime, 0);
    assert_eq!(
        garbage.unwrap(),
        stat::ProcStat::default(),
        "unknown lines are ignored, as procfs does"
    );
    let huge = huge.unwrap();
    assert_eq!(huge.ctxt, u64::MAX);
    assert_eq!(huge.cpus[0].1.user, 18446744073709551615.0 / 100.0);
}

#[test]
fn vmstat() {
    let [normal, _, _, huge] = check(
        "vmstat",
        |t| vmstat::parse_vmstat(t).map(owned_pairs),
        ["ok", "err", "err", "ok"],
    );
    assert!(normal.unwrap().iter().any(|(n, _)| n == "pgfault"));
    let huge = huge.unwrap();
    assert_eq!(huge[0].1, 18446744073709551615.0);
    assert!(
        vmstat::parse_vmstat("pgfault 1e400\n").is_err(),
        "out of a float's range, as Go's ParseFloat"
    );
}

#[test]
fn netstat() {
    let [normal, _, _, huge] = check(
        "netstat",
        |t| netstat::parse_netstat(t).map(owned_stats),
        ["ok", "err", "err", "ok"],
    );
    assert!(normal.unwrap().iter().any(|(p, _)| p == "TcpExt"));
    assert_eq!(huge.unwrap()[0].1[0].1, 18446744073709551615.0);
}

#[test]
fn snmp6() {
    let [normal, truncated, garbage, huge] = check(
        "snmp6",
        |t| netstat::parse_snmp6(t).map(owned_stats),
        ["ok", "ok", "ok", "ok"],
    );
    let normal = normal.unwrap();
    assert!(normal.iter().any(|(p, _)| p == "Ip6") && normal.iter().any(|(p, _)| p == "Udp6"));
    assert!(
        truncated
            .unwrap()
            .iter()
            .map(|(_, s)| s.len())
            .sum::<usize>()
            < normal.iter().map(|(_, s)| s.len()).sum()
    );
    assert!(
        garbage.unwrap().is_empty(),
        "lines without a protocol are skipped"
    );
    assert_eq!(
        huge.unwrap()[0].1[0],
        ("InReceives".to_owned(), 18446744073709551615.0)
    );
}

#[test]
fn sockstat() {
    let [normal, _, _, huge] = check(
        "sockstat",
        sockstat::parse_sockstat,
        ["ok", "ok", "err", "ok"],
    );
    assert!(
        normal
            .unwrap()
            .protocols
            .iter()
            .any(|p| p.protocol == "TCP")
    );
    let huge = huge.unwrap();
    assert_eq!(huge.used, Some(i64::MAX));
    assert_eq!(huge.protocols[0].mem, Some(i64::MAX));
}

#[test]
fn pressure() {
    let [normal, truncated, garbage, huge] = check(
        "pressure",
        pressure::parse_pressure,
        ["ok", "err", "ok", "ok"],
    );
    assert!(normal.unwrap().full.is_some());
    assert!(truncated.is_err());
    assert_eq!(
        garbage.unwrap(),
        pressure::PsiStats::default(),
        "unknown lines are ignored"
    );
    assert_eq!(huge.unwrap().some.unwrap().total, u64::MAX);
}

#[test]
fn diskstats() {
    let [normal, truncated, _, huge] = check(
        "diskstats",
        diskstats::parse_diskstats,
        ["ok", "ok", "err", "err"],
    );
    assert_eq!(normal.unwrap().len(), 6);
    assert!(
        truncated.unwrap().len() < 6,
        "the cut line has too few fields and is skipped"
    );
    // 2^64 does not fit procfs' uint64 either.
    assert!(
        huge.unwrap_err()
            .to_string()
            .contains("18446744073709551616")
    );
    let first =
        diskstats::parse_diskstats(case("diskstats", "huge").lines().next().unwrap()).unwrap();
    assert_eq!(first[0].stats[0], u64::MAX);
}

#[test]
fn net_dev() {
    let [normal, _, _, huge] = check("net-dev", netdev::parse_net_dev, ["ok", "err", "err", "ok"]);
    assert_eq!(normal.unwrap().len(), 3);
    assert_eq!(huge.unwrap()[0].stats[0], ("receive_bytes", u64::MAX));
}

#[test]
fn mounts() {
    let [normal, _, _, huge] = check(
        "mounts",
        filesystem::parse_mounts,
        ["ok", "err", "err", "ok"],
    );
    assert!(
        normal
            .unwrap()
            .iter()
            .any(|m| m.mountpoint == "/srv/with space")
    );
    assert_eq!(huge.unwrap()[0].mountpoint.len(), 5001);
}

#[test]
fn mountinfo() {
    let [normal, _, _, huge] = check(
        "mountinfo",
        filesystem::parse_mountinfo,
        ["ok", "err", "err", "ok"],
    );
    assert!(normal.unwrap().iter().any(|m| m.device == "server:/export"));
    assert_eq!(huge.unwrap()[0].major_minor, "4294967295:4294967295");
}

#[test]
fn os_release() {
    let [normal, truncated, _, huge] = check(
        "os-release",
        os::parse_os_release,
        ["ok", "err", "err", "ok"],
    );
    assert_eq!(normal.unwrap().version_id, "12");
    assert!(truncated.is_err(), "a line cut before its '='");
    let huge = huge.unwrap();
    assert_eq!(huge.pretty_name.len(), 100_000);
    assert_eq!(huge.version_number(), 1e23);
}

#[test]
fn textfile() {
    let [normal, truncated, _, huge] = check(
        "textfile",
        textparse::parse_text,
        ["ok", "err", "err", "ok"],
    );
    assert_eq!(normal.unwrap().len(), 6);
    assert!(
        truncated
            .unwrap_err()
            .to_string()
            .contains("unknown metric type")
    );
    let huge = huge.unwrap();
    let values: Vec<_> = huge
        .iter()
        .map(|f| match &f.series[0].value {
            textparse::TextValue::Scalar(v) => *v,
            _ => f64::NAN,
        })
        .collect();
    assert_eq!(
        values,
        [1e308, -1e308, 18446744073709551615.0, f64::INFINITY]
    );
    assert!(
        textparse::parse_text("bigger 1e309\n").is_err(),
        "out of a float's range"
    );
}

#[test]
fn arp_table() {
    let [normal, _, _, huge] = check(
        "arp",
        |t| {
            arp::parse_arp(t).map(|m| {
                m.into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect::<Vec<_>>()
            })
        },
        ["ok", "err", "err", "ok"],
    );
    assert_eq!(
        normal.unwrap(),
        [("docker0".to_owned(), 1), ("eth0".to_owned(), 2)]
    );
    let huge = huge.unwrap();
    assert_eq!(huge.iter().map(|(_, n)| n).sum::<u32>(), 5003);
}

#[test]
fn udp_sockets() {
    let [normal, _, _, huge] = check("net-udp", udp_queues::parse_udp, ["ok", "err", "err", "ok"]);
    assert_eq!(
        normal.unwrap(),
        udp_queues::QueueSummary {
            tx: 0x102,
            rx: 0xa00
        }
    );
    assert_eq!(huge.unwrap().tx, u64::MAX);
}

#[test]
fn softnet_stat() {
    let [normal, _, _, huge] = check(
        "softnet_stat",
        softnet::parse_softnet,
        ["ok", "err", "err", "ok"],
    );
    let normal = normal.unwrap();
    assert_eq!(normal.len(), 2);
    assert_eq!(
        (
            normal[0].processed,
            normal[0].dropped,
            normal[0].cpu_collision
        ),
        (0x2529a, 2, 4)
    );
    assert_eq!((normal[1].index, normal[0].flow_limit_count), (1, 6));
    let huge = huge.unwrap();
    assert_eq!((huge[0].processed, huge[0].index), (u32::MAX, u32::MAX));
}

#[test]
fn nf_conntrack_stat() {
    let [normal, _, _, huge] = check(
        "nf_conntrack",
        conntrack::parse_conntrack_stat,
        ["ok", "ok", "err", "ok"],
    );
    // Cut inside the last field of the second CPU's line: still 17 hex fields, as in Go.
    let normal = normal.unwrap();
    assert_eq!(
        (normal.found, normal.search_restart, normal.early_drop),
        (0x11, 0x18, 0x17)
    );
    assert_eq!(huge.unwrap().found, u64::MAX);
}

#[test]
fn cpuinfo() {
    let [normal, truncated, _, huge] =
        check("cpuinfo", cpu::parse_cpuinfo, ["ok", "ok", "err", "ok"]);
    let normal = normal.unwrap();
    assert_eq!(normal.len(), 2);
    assert_eq!(
        normal[0].model_name,
        "Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz"
    );
    assert!(normal[0].bugs.iter().any(|b| b == "spectre_v2"));
    let truncated = truncated.unwrap();
    assert_eq!(truncated.len(), 2);
    assert!(truncated[1].physical_id.is_empty(), "cut in `physical id`");
    assert_eq!(huge.unwrap().len(), 512);
}

#[test]
fn entropy_avail() {
    let parse = |t: &str| entropy::parse_uint_file("sys/kernel/random/entropy_avail", t);
    let [normal, truncated, _, huge] = check("entropy_avail", parse, ["ok", "ok", "err", "ok"]);
    assert_eq!((normal.unwrap(), truncated.unwrap()), (3968, 39));
    assert_eq!(huge.unwrap(), u64::MAX);
}
