//! No parser of the hardware, RAID, NFS and filesystem collectors panics, whatever the text:
//! arbitrary strings, and lines built from the tokens their files are made of.

use aiplatform_node_exporter::collectors::{
    cpufreq, hwmon, mdadm, nfs, nfsd, powersupplyclass, xfs, zfs,
};
use aiplatform_prometheus::Compat;
use proptest::prelude::*;

fn tokens() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("md0".to_owned()),
        Just(":".to_owned()),
        Just("active".to_owned()),
        Just("inactive".to_owned()),
        Just("raid1".to_owned()),
        Just("raid0".to_owned()),
        Just("linear".to_owned()),
        Just("sda1[0](F)".to_owned()),
        Just("blocks".to_owned()),
        Just("[2/1]".to_owned()),
        Just("[U_]".to_owned()),
        Just("recovery".to_owned()),
        Just("resync=DELAYED".to_owned()),
        Just("bitmap".to_owned()),
        Just("(1/2)".to_owned()),
        Just("= 8.5%".to_owned()),
        Just("finish=1.2min".to_owned()),
        Just("speed=5K/sec".to_owned()),
        Just("      ".to_owned()),
        Just("net".to_owned()),
        Just("rpc".to_owned()),
        Just("proc2".to_owned()),
        Just("proc3".to_owned()),
        Just("proc4".to_owned()),
        Just("proc4ops".to_owned()),
        Just("th".to_owned()),
        Just("rc".to_owned()),
        Just("ra".to_owned()),
        Just("wdeleg_getattr".to_owned()),
        Just("name type data".to_owned()),
        Just("nread".to_owned()),
        Just("dataset_name".to_owned()),
        Just("4".to_owned()),
        Just("3".to_owned()),
        Just("xpc".to_owned()),
        Just("vnodes".to_owned()),
        Just("0x1F".to_owned()),
        Just("-".to_owned()),
        Just("18446744073709551616".to_owned()),
        (0u64..100).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        "[a-z_]{1,8}",
        ".{0,4}",
    ];
    prop::collection::vec(
        prop::collection::vec(token, 0..12).prop_map(|t| t.join(" ")),
        0..12,
    )
    .prop_map(|lines| lines.join("\n"))
}

fn every_parser(text: &str) {
    for compat in [Compat::Upstream, Compat::Debian12] {
        let _ = mdadm::parse_mdstat(text, compat);
        let _ = nfs::parse_client(text, compat);
        let _ = nfsd::parse_server(text, compat);
        let _ = zfs::parse_kstat(text, "arcstats", compat);
        let _ = zfs::parse_objset(text, compat);
    }
    let _ = xfs::parse_xfs_stats(text);
    let _ = zfs::parse_pool_io(text);
    let _ = cpufreq::parse_cpu_range(text);
    let _ = powersupplyclass::parse_int_base0(text);
    let _ = hwmon::explode(text);
    let _ = hwmon::clean_name(text);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text(text in ".{0,400}") {
        every_parser(&text);
    }

    #[test]
    fn file_like_text(text in tokens()) {
        every_parser(&text);
    }
}
