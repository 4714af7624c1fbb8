//! No parser of the optional-source collectors (schedstat, interrupts, zoneinfo, processes,
//! meminfo_numa, ipvs, mountstats, bcache, bcachefs, infiniband) panics, whatever the input: arbitrary
//! text, and text built from the tokens their files are made of.

use aiplatform_node_exporter::collectors::{
    bcache, bcachefs, infiniband, interrupts, ipvs, meminfo_numa, mountstats, processes, schedstat,
    zoneinfo,
};
use proptest::prelude::*;

fn tokens() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("cpu0".to_owned()),
        Just("CPU0".to_owned()),
        Just("Node".to_owned()),
        Just("0,".to_owned()),
        Just("zone".to_owned()),
        Just("protection:".to_owned()),
        Just("(0,".to_owned()),
        Just("per-node".to_owned()),
        Just("NMI:".to_owned()),
        Just("0:".to_owned()),
        Just("(a)".to_owned()),
        Just("S".to_owned()),
        Just("->".to_owned()),
        Just("TCP".to_owned()),
        Just("FWM".to_owned()),
        Just("C0A80016:0CEA".to_owned()),
        Just("[2620:0000:0000:0000:0000:0000:0000:0001]:0050".to_owned()),
        Just("device".to_owned()),
        Just("mounted on".to_owned()),
        Just("with fstype nfs4 statvers=1.1".to_owned()),
        Just("xprt:".to_owned()),
        Just("tcp".to_owned()),
        Just("udp".to_owned()),
        Just("rdma".to_owned()),
        Just("bytes:".to_owned()),
        Just("events:".to_owned()),
        Just("age:".to_owned()),
        Just("per-op".to_owned()),
        Just("-".to_owned()),
        Just("addr=1.2.3.4".to_owned()),
        Just("1.5M".to_owned()),
        Just("read:".to_owned()),
        Just("since mount:".to_owned()),
        Just("since filesystem creation:".to_owned()),
        Just("IO errors since filesystem creation".to_owned()),
        Just("IO errors since".to_owned()),
        Just("16E".to_owned()),
        Just("Gb/sec".to_owned()),
        Just("kB".to_owned()),
        Just("18446744073709551616".to_owned()),
        Just("0x".to_owned()),
        Just("\t".to_owned()),
        any::<u64>().prop_map(|n| n.to_string()),
        "[a-zA-Z_]{1,8}",
        ".{0,4}",
    ];
    prop::collection::vec(
        prop::collection::vec(token, 0..14).prop_map(|t| t.join(" ")),
        0..14,
    )
    .prop_map(|lines| lines.join("\n"))
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), tokens()]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic(text in any_text()) {
        let _ = schedstat::parse_schedstat(&text);
        let _ = interrupts::parse_interrupts(&text);
        let _ = zoneinfo::parse_zoneinfo(&text);
        let _ = processes::parse_proc_stat(&text);
        let _ = meminfo_numa::parse_meminfo_numa(&text);
        let _ = meminfo_numa::parse_numastat(&text, "0");
        let _ = ipvs::parse_ipvs_stats(&text);
        let _ = ipvs::parse_ipvs_backends(&text);
        let _ = mountstats::parse_mountstats(&text);
        let _ = mountstats::parse_mountinfo_addrs(&text);
        let _ = bcache::dehumanize(&text);
        let _ = infiniband::parse_state(&text);
        let _ = infiniband::parse_rate(&text);
        let _ = bcachefs::parse_human_bytes(&text);
        let _ = bcachefs::parse_compression(&text);
        let _ = bcachefs::parse_errors(&text);
        let _ = bcachefs::parse_counter(&text);
        let _ = bcachefs::parse_btree_writes(&text);
        let _ = bcachefs::parse_io_done(&text);
        let _ = bcachefs::parse_io_errors(&text);
    }

    #[test]
    fn dehumanize_reads_plain_integers(n in 0u64..(1 << 52)) {
        prop_assert_eq!(bcache::dehumanize(&n.to_string()).unwrap(), n);
    }
}
