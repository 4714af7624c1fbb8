//! DogStatsD end to end: a registry through the pipeline to a real UDP or Unix socket, read
//! back as the agent reads it. Each transport bug metrics-exporter-dogstatsd's changelog lists
//! (0.9.1 – 0.9.6) has a test here, named after it.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::UdpSocket;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aiplatform_datadog::{Datadog, UDP_PAYLOAD_BYTES, UDS_PAYLOAD_BYTES};
use aiplatform_metrics::{Buckets, Registry};
use aiplatform_push::Pipeline;

const FLUSH: Duration = Duration::from_secs(5);

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dd-dsd-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn pipeline(registry: &Registry, agent: &str, telemetry: bool) -> Pipeline {
    Datadog::new()
        .agent(agent)
        .unwrap()
        .env("test")
        .service("api")
        .client_telemetry(telemetry)
        .dogstatsd_pipeline(registry)
        .unwrap()
        .periodic(false)
        .build()
        .unwrap()
}

/// A UDP "agent" as one with a raised `dogstatsd_so_rcvbuf`: a flush arrives in one burst.
fn udp_agent(addr: impl std::net::ToSocketAddrs) -> UdpSocket {
    let rx = UdpSocket::bind(addr).unwrap();
    let bytes: libc::c_int = 4 << 20;
    // SAFETY: a valid socket and an int option of the right size.
    unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&rx),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&raw const bytes).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    rx
}

/// Every datagram waiting on `rx`, until none comes for 300 ms.
fn drain_udp(rx: &UdpSocket) -> Vec<Vec<u8>> {
    rx.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = rx.recv(&mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

fn drain_unix(rx: &UnixDatagram) -> Vec<Vec<u8>> {
    rx.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = rx.recv(&mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

/// A datagram's lines without their `\n` and without the `\n` padding that fills a UDP
/// datagram sent segmented to exactly the payload size, checked: every line is terminated
/// (agents with `dogstatsd_eol_required` drop an unterminated one) and padding only ever fills
/// a datagram.
fn unpadded(d: &[u8]) -> &[u8] {
    assert_eq!(d.last(), Some(&b'\n'), "an unterminated last line");
    let end = d.iter().rposition(|&b| b != b'\n').map_or(0, |i| i + 1);
    if end + 1 < d.len() {
        assert_eq!(
            d.len(),
            UDP_PAYLOAD_BYTES,
            "padding that does not fill a datagram"
        );
    }
    &d[..end]
}

/// The lines of `datagrams`, checked: no empty line, every line terminated, padding only
/// where it fills a datagram, valid UTF-8.
fn lines(datagrams: &[Vec<u8>]) -> Vec<String> {
    let mut out = Vec::new();
    for d in datagrams {
        let s = std::str::from_utf8(unpadded(d)).expect("utf-8 datagram");
        for l in s.split('\n') {
            assert!(!l.is_empty(), "an empty line in {s:?}");
            out.push(l.to_owned());
        }
    }
    out
}

/// `name -> (value, type, tags)` of the application's lines (not the pipeline's self-metrics
/// nor the client telemetry), with the tags sorted.
fn app_lines(lines: &[String]) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for l in lines {
        if l.starts_with("aiplatform_push") || l.starts_with("datadog.dogstatsd.client") {
            continue;
        }
        let (name, rest) = l.split_once(':').unwrap();
        let mut parts = rest.split('|');
        let value = parts.next().unwrap().to_owned();
        let ty = parts.next().unwrap().to_owned();
        let mut tags: Vec<&str> = parts
            .find_map(|p| p.strip_prefix('#'))
            .map(|t| t.split(',').collect())
            .unwrap_or_default();
        tags.sort_unstable();
        let key = format!("{name}{{{}}}", tags.join(","));
        assert!(
            out.insert(key.clone(), (value, ty)).is_none(),
            "{key} twice in one flush"
        );
    }
    out
}

fn get<'a>(m: &'a BTreeMap<String, (String, String)>, key: &str) -> (&'a str, &'a str) {
    let (v, t) = m
        .get(key)
        .unwrap_or_else(|| panic!("{key} missing from {:#?}", m.keys()));
    (v, t)
}

#[test]
fn counters_as_deltas_gauges_as_values_histograms_as_the_openmetrics_check() {
    let rx = udp_agent("127.0.0.1:0");
    let registry = Registry::new();
    let jobs = registry
        .counter_family("jobs_total", "Jobs.", &["queue"])
        .unwrap();
    let depth = registry.gauge("queue_depth", "Depth.").unwrap();
    let latency = registry
        .histogram(
            "latency_seconds",
            "Latency.",
            Buckets::new([0.1, 0.5]).unwrap(),
        )
        .unwrap();
    let p = pipeline(
        &registry,
        &format!("udp://{}", rx.local_addr().unwrap()),
        true,
    );

    jobs.with(&["fast"]).inc_by(5);
    depth.set(7.0);
    latency.observe(0.05);
    latency.observe(0.3);
    p.flush(FLUSH).unwrap();
    let first = lines(&drain_udp(&rx));
    let m = app_lines(&first);
    let tags = "env:test,service:api";
    assert_eq!(
        get(&m, "jobs.count{env:test,queue:fast,service:api}"),
        ("5", "c")
    );
    assert_eq!(get(&m, &format!("queue_depth{{{tags}}}")), ("7", "g"));
    assert_eq!(
        get(&m, &format!("latency_seconds.count{{{tags}}}")),
        ("2", "c")
    );
    assert_eq!(
        get(&m, &format!("latency_seconds.sum{{{tags}}}")),
        ("0.35", "c")
    );
    assert_eq!(
        get(
            &m,
            &format!("latency_seconds.bucket{{{tags},upper_bound:0.1}}")
        ),
        ("1", "c")
    );
    assert_eq!(
        get(
            &m,
            &format!("latency_seconds.bucket{{{tags},upper_bound:0.5}}")
        ),
        ("2", "c"),
        "buckets are cumulative, as the OpenMetrics check sends them"
    );

    // metrics-exporter-dogstatsd 0.9.5 fixed counters sent with the wrong aggregation: here
    // a counter is the increase since the last flush, a gauge its last value.
    jobs.with(&["fast"]).inc_by(3);
    depth.set(2.0);
    p.flush(FLUSH).unwrap();
    let second = lines(&drain_udp(&rx));
    let m = app_lines(&second);
    assert_eq!(
        get(&m, "jobs.count{env:test,queue:fast,service:api}"),
        ("3", "c")
    );
    assert_eq!(get(&m, &format!("queue_depth{{{tags}}}")), ("2", "g"));
    // The histogram did not change: no line for it.
    assert!(
        !m.keys().any(|k| k.starts_with("latency_seconds")),
        "{m:#?}"
    );

    // Client telemetry, as the official clients send it.
    let telemetry: Vec<&String> = second
        .iter()
        .filter(|l| l.starts_with("datadog.dogstatsd.client."))
        .collect();
    for name in [
        "metrics",
        "packets_sent",
        "bytes_sent",
        "packets_dropped",
        "bytes_dropped",
    ] {
        let l = telemetry
            .iter()
            .find(|l| l.starts_with(&format!("datadog.dogstatsd.client.{name}:")))
            .unwrap_or_else(|| panic!("no {name} telemetry in {telemetry:#?}"));
        assert!(l.contains("|c|#"), "{l}");
        assert!(
            l.contains("client:rust") && l.contains("client_transport:udp"),
            "{l}"
        );
        assert!(l.contains("env:test"), "{l}");
    }
    // The first flush's datagrams are in the second flush's telemetry.
    let sent: u64 = telemetry
        .iter()
        .find(|l| l.starts_with("datadog.dogstatsd.client.packets_sent:"))
        .map(|l| l.split([':', '|']).nth(1).unwrap().parse().unwrap())
        .unwrap();
    assert!(sent >= 1, "packets_sent {sent}");
    p.shutdown(FLUSH).unwrap();
}

/// 0.9.5 made the exporter pack several metrics per payload; packing must keep every line
/// whole, in one datagram, under the payload limit, and use no more datagrams than needed.
#[test]
fn many_lines_packed_into_full_datagrams_never_split() {
    let rx = udp_agent("127.0.0.1:0");
    rx.set_nonblocking(false).unwrap();
    let registry = Registry::new();
    let fam = registry
        .gauge_family("worker_load", "Load.", &["worker"])
        .unwrap();
    for i in 0..3000 {
        fam.with(&[&format!("w{i:05}")]).set(f64::from(i));
    }
    let p = pipeline(
        &registry,
        &format!("udp://{}", rx.local_addr().unwrap()),
        false,
    );
    p.flush(FLUSH).unwrap();
    let datagrams = drain_udp(&rx);
    let all = lines(&datagrams);
    let m = app_lines(&all);
    for i in [0, 1234, 2999] {
        let key = format!("worker_load{{env:test,service:api,worker:w{i:05}}}");
        assert_eq!(get(&m, &key), (i.to_string().as_str(), "g"));
    }
    assert_eq!(m.len(), 3000);
    let total: usize = all.iter().map(|l| l.len() + 1).sum();
    let fewest = total.div_ceil(UDP_PAYLOAD_BYTES + 1);
    for d in &datagrams {
        assert!(d.len() <= UDP_PAYLOAD_BYTES, "{} bytes", d.len());
    }
    // Greedy packing of whole lines: every datagram but the last is within one line of full.
    let longest = all.iter().map(String::len).max().unwrap();
    for d in &datagrams[..datagrams.len() - 1] {
        let len = unpadded(d).len();
        assert!(len + longest + 1 > UDP_PAYLOAD_BYTES, "underfull: {len}");
    }
    assert!(
        datagrams.len() <= fewest + fewest / 10 + 1,
        "{} datagrams for {fewest}",
        datagrams.len()
    );
    p.shutdown(FLUSH).unwrap();
}

/// 0.9.3: no length prefix in Unix datagram mode. 0.9.2: the client socket is unbound, so it
/// never takes over the agent's path.
#[test]
fn unix_datagrams_unprefixed_from_an_unbound_socket() {
    let dir = temp_dir("uds");
    let path = dir.join("dsd.socket");
    let rx = UnixDatagram::bind(&path).unwrap();
    let registry = Registry::new();
    let c = registry.counter("hits_total", "Hits.").unwrap();
    let p = pipeline(&registry, &format!("unix://{}", path.display()), true);
    c.inc_by(4);
    p.flush(FLUSH).unwrap();

    rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = vec![0u8; 65536];
    let (n, from) = rx.recv_from(&mut buf).unwrap();
    assert!(from.is_unnamed(), "the client bound a path: {from:?}");
    let first = &buf[..n];
    // The first bytes are a metric name, not a 4-byte length.
    assert!(first[0].is_ascii_alphabetic(), "{:?}", &first[..8.min(n)]);
    let mut datagrams = vec![first.to_vec()];
    datagrams.extend(drain_unix(&rx));
    for d in &datagrams {
        assert!(d.len() <= UDS_PAYLOAD_BYTES);
    }
    let all = lines(&datagrams);
    let m = app_lines(&all);
    assert_eq!(get(&m, "hits.count{env:test,service:api}"), ("4", "c"));
    assert!(all.iter().any(|l| l.contains("client_transport:uds")));

    // The agent's socket still receives from others: nothing took its path.
    let other = UnixDatagram::unbound().unwrap();
    other.send_to(b"probe:1|c", &path).unwrap();
    let n = rx.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"probe:1|c");
    p.shutdown(FLUSH).unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

/// 0.9.6: draining must not eat the next payload's length prefix. Over a stream socket every
/// payload is prefixed by its length, and a flush of many payloads reads back frame by frame.
#[test]
fn unix_stream_frames_each_carry_their_own_length() {
    let dir = temp_dir("stream");
    let path = dir.join("dsd.socket");
    let listener = UnixListener::bind(&path).unwrap();
    let registry = Registry::new();
    let fam = registry
        .counter_family("events_total", "Events.", &["kind"])
        .unwrap();
    for i in 0..500 {
        fam.with(&[&format!("kind{i:03}")]).inc_by(i + 1);
    }
    let p = pipeline(
        &registry,
        &format!("unixstream://{}", path.display()),
        false,
    );
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut bytes = Vec::new();
        let _ = s.read_to_end(&mut bytes);
        bytes
    });
    p.flush(FLUSH).unwrap();
    let bytes = reader.join().unwrap();
    let mut frames = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        assert!(
            len > 0 && len <= UDS_PAYLOAD_BYTES,
            "frame length {len} at {at}"
        );
        frames.push(bytes[at + 4..at + 4 + len].to_vec());
        at += 4 + len;
    }
    assert_eq!(at, bytes.len());
    assert!(frames.len() > 1, "one frame only: the test needs several");
    let m = app_lines(&lines(&frames));
    for i in [0u64, 250, 499] {
        let key = format!("events.count{{env:test,kind:kind{i:03},service:api}}");
        assert_eq!(get(&m, &key), ((i + 1).to_string().as_str(), "c"));
    }
    drop(p);
    let _ = std::fs::remove_dir_all(dir);
}

/// 0.9.1: after a connection failure the forwarder was left broken. Here a flush while the
/// agent is absent drops (and counts) its datagrams, and the next flush, once the agent is
/// there, is delivered.
#[test]
fn a_missing_agent_then_a_present_one() {
    let dir = temp_dir("late");
    let path = dir.join("dsd.socket");
    let registry = Registry::new();
    let c = registry.counter("ticks_total", "Ticks.").unwrap();
    let p = pipeline(&registry, &format!("unix://{}", path.display()), true);
    c.inc();
    let err = p.flush(FLUSH).unwrap_err().to_string();
    assert!(err.contains("dsd.socket"), "{err}");
    assert!(p.samples_dropped() > 0, "nothing counted as dropped");

    let rx = UnixDatagram::bind(&path).unwrap();
    c.inc_by(2);
    p.flush(FLUSH).unwrap();
    let all = lines(&drain_unix(&rx));
    let m = app_lines(&all);
    assert_eq!(get(&m, "ticks.count{env:test,service:api}"), ("2", "c"));
    // The telemetry reports the earlier drop.
    let dropped = all
        .iter()
        .find(|l| l.starts_with("datadog.dogstatsd.client.packets_dropped:"))
        .unwrap();
    let n: u64 = dropped.split([':', '|']).nth(1).unwrap().parse().unwrap();
    assert!(n >= 1, "{dropped}");

    // The agent restarts: its socket file is replaced. The next flush finds the new one.
    drop(rx);
    std::fs::remove_file(&path).unwrap();
    let rx = UnixDatagram::bind(&path).unwrap();
    c.inc_by(3);
    p.flush(FLUSH).unwrap();
    let m = app_lines(&lines(&drain_unix(&rx)));
    assert_eq!(get(&m, "ticks.count{env:test,service:api}"), ("3", "c"));
    p.shutdown(FLUSH).unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

/// The same over UDP: a port nobody listens on (ICMP refusals), then an agent on it.
#[test]
fn udp_agent_down_then_up() {
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let registry = Registry::new();
    let c = registry.counter("ticks_total", "Ticks.").unwrap();
    let p = pipeline(&registry, &format!("udp://{addr}"), false);
    for _ in 0..3 {
        c.inc();
        p.flush(FLUSH).unwrap();
    }
    let rx = udp_agent(addr);
    c.inc_by(10);
    p.flush(FLUSH).unwrap();
    let m = app_lines(&lines(&drain_udp(&rx)));
    assert_eq!(get(&m, "ticks.count{env:test,service:api}"), ("10", "c"));
    p.shutdown(FLUSH).unwrap();
}

/// A full Unix socket (the agent stopped reading) never blocks the application, and the
/// flush gives up after the write timeout, counting what it dropped.
#[test]
fn a_full_socket_drops_and_never_blocks() {
    let dir = temp_dir("full");
    let path = dir.join("dsd.socket");
    let _rx = UnixDatagram::bind(&path).unwrap();
    let registry = Registry::new();
    let fam = registry
        .gauge_family("payload", "Payload.", &["i"])
        .unwrap();
    for i in 0..20_000 {
        fam.with(&[&format!("{i:06}-{}", "x".repeat(60))]).set(1.0);
    }
    let p = Datadog::new()
        .agent(&format!("unixgram://{}", path.display()))
        .unwrap()
        .write_timeout(Duration::from_millis(50))
        .dogstatsd_pipeline(&registry)
        .unwrap()
        .periodic(false)
        .build()
        .unwrap();
    let c = registry.counter("hot_total", "Hot.").unwrap();
    let t = Instant::now();
    p.flush(FLUSH).unwrap();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // Recording meanwhile is unaffected.
    let t = Instant::now();
    for _ in 0..1000 {
        c.inc();
    }
    assert!(t.elapsed() < Duration::from_millis(500));
    // The agent catches up, the big family goes: the next flush reports what the full socket
    // dropped.
    let _ = drain_unix(&_rx);
    assert!(registry.unregister("payload"));
    p.flush(FLUSH).unwrap();
    let all = lines(&drain_unix(&_rx));
    let dropped = |name: &str| -> u64 {
        let l = all
            .iter()
            .find(|l| l.starts_with(&format!("datadog.dogstatsd.client.{name}:")))
            .unwrap_or_else(|| panic!("no {name}"));
        l.split([':', '|']).nth(1).unwrap().parse().unwrap()
    };
    assert!(dropped("packets_dropped_writer") > 0);
    assert!(dropped("bytes_dropped_writer") > dropped("packets_dropped_writer"));
    assert!(dropped("packets_sent") > 0);
    p.shutdown(FLUSH).unwrap();
    let _ = std::fs::remove_dir_all(dir);
}
