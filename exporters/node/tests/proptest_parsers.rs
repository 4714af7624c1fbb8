//! No parser panics, whatever the input: arbitrary text, and text built from the tokens the
//! real files are made of (so the parsers get past their first checks).

use aiplatform_node_exporter::collectors::{
    cpu, diskstats, filefd, filesystem, loadavg, meminfo, netdev, netlink, netstat, os, pressure,
    sockstat, stat, time, vmstat,
};
use aiplatform_prometheus::textparse;
use proptest::prelude::*;

/// Lines of tokens seen in `/proc`, `/sys`, os-release and text expositions.
fn procish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("cpu".to_owned()),
        Just("cpu0".to_owned()),
        Just("MemTotal:".to_owned()),
        Just("Active(anon):".to_owned()),
        Just("kB".to_owned()),
        Just("some".to_owned()),
        Just("full".to_owned()),
        Just("avg10=1.0".to_owned()),
        Just("total=".to_owned()),
        Just("TcpExt:".to_owned()),
        Just("Ip6InReceives".to_owned()),
        Just("sockets:".to_owned()),
        Just("used".to_owned()),
        Just("inuse".to_owned()),
        Just("eth0:".to_owned()),
        Just("-".to_owned()),
        Just(":".to_owned()),
        Just("254:0".to_owned()),
        Just("#".to_owned()),
        Just("# HELP".to_owned()),
        Just("# TYPE".to_owned()),
        Just("histogram".to_owned()),
        Just("summary".to_owned()),
        Just("x_bucket{le=\"1\"}".to_owned()),
        Just("{a=\"b\\\"\"}".to_owned()),
        Just("KEY=\"v\\".to_owned()),
        Just("'".to_owned()),
        Just("\\040".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("1e309".to_owned()),
        Just("NaN".to_owned()),
        Just("+Inf".to_owned()),
        Just("\t".to_owned()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|n| n.to_string()),
        "[a-zA-Z_]{1,8}",
        ".{0,4}",
    ];
    prop::collection::vec(
        prop::collection::vec(token, 0..12).prop_map(|t| t.join(" ")),
        0..12,
    )
    .prop_map(|lines| lines.join("\n"))
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), procish()]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn proc_parsers_never_panic(text in any_text()) {
        let _ = loadavg::parse_loadavg(&text);
        let _ = filefd::parse_file_nr(&text);
        let _ = meminfo::parse_meminfo(&text);
        let _ = stat::parse_stat(&text);
        let _ = vmstat::parse_vmstat(&text);
        let _ = netstat::parse_netstat(&text);
        let _ = netstat::parse_snmp6(&text);
        let _ = sockstat::parse_sockstat(&text);
        let _ = pressure::parse_pressure(&text);
        let _ = diskstats::parse_diskstats(&text);
        let _ = diskstats::parse_udev(&text);
        let _ = netdev::parse_net_dev(&text);
        let _ = filesystem::parse_mounts(&text);
        let _ = filesystem::parse_mountinfo(&text);
        let _ = cpu::parse_cpu_list(&text);
        let _ = time::parse_clocksource(&text, &text);
    }

    #[test]
    fn os_release_and_textfile_parsers_never_panic(text in any_text()) {
        if let Ok(os) = os::parse_os_release(&text) {
            let _ = os.version_number();
            let _ = os.support_end_seconds();
        }
        let _ = textparse::parse_text(&text);
    }

    #[test]
    fn meminfo_values_survive_a_round_trip(kb in any::<u32>(), pages in any::<u32>()) {
        let text = format!("MemTotal: {kb} kB\nHugePages_Total: {pages}\n");
        let f = meminfo::parse_meminfo(&text).unwrap();
        prop_assert_eq!(f[0].value, kb as f64 * 1024.0);
        prop_assert_eq!(f[1].value, pages as f64);
    }

    #[test]
    fn netlink_messages_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut links = Vec::new();
        let _ = netlink::parse_messages(&data, 1, &mut links);
    }
}
