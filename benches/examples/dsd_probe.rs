use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn thread_cpu_ns(name_prefix: &str) -> Option<u64> {
    for e in std::fs::read_dir("/proc/self/task").ok()? {
        let p = e.ok()?.path();
        let comm = std::fs::read_to_string(p.join("comm")).ok()?;
        if comm.trim().starts_with(name_prefix) {
            let s = std::fs::read_to_string(p.join("schedstat")).ok()?;
            return s.split_whitespace().next()?.parse().ok();
        }
    }
    None
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = rx.local_addr().unwrap();
    let lines = Arc::new(AtomicU64::new(0));
    let dgrams = Arc::new(AtomicU64::new(0));
    {
        let (lines, dgrams) = (lines.clone(), dgrams.clone());
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            loop {
                let k = rx.recv(&mut buf).unwrap();
                let nl = buf[..k].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
                lines.fetch_add(nl, Ordering::Relaxed);
                dgrams.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let recorder = metrics_exporter_dogstatsd::DogStatsDBuilder::default()
        .with_remote_address(addr.to_string())
        .unwrap()
        .with_flush_interval(Duration::from_nanos(1))
        .with_telemetry(false)
        .build()
        .unwrap();
    use metrics::Recorder;
    let md = metrics::Metadata::new("x", metrics::Level::INFO, None);
    let mut gauges = Vec::new();
    for i in 0..n {
        let key = metrics::Key::from_parts(
            format!("app.requests.g{}", i % 10),
            vec![
                metrics::Label::new("method", ["GET", "POST"][i % 2]),
                metrics::Label::new("path", format!("/api/v1/item{}", i / 10)),
            ],
        );
        let g = recorder.register_gauge(&key, &md);
        g.set(i as f64 * 1.5);
        gauges.push(g);
    }
    std::thread::sleep(Duration::from_millis(500));
    for round in 0..3 {
        let c0 = thread_cpu_ns("metrics-exporte").unwrap();
        let l0 = lines.load(Ordering::Relaxed);
        let d0 = dgrams.load(Ordering::Relaxed);
        let t = Instant::now();
        std::thread::sleep(Duration::from_secs(2));
        let el = t.elapsed();
        let c1 = thread_cpu_ns("metrics-exporte").unwrap();
        let l = lines.load(Ordering::Relaxed) - l0;
        let d = dgrams.load(Ordering::Relaxed) - d0;
        let flushes = l as f64 / n as f64;
        println!(
            "peer round {round}: {flushes:.1} flushes, wall/flush {:.3} ms, cpu/flush {:.3} ms, dgrams/flush {:.1}",
            el.as_secs_f64() * 1e3 / flushes,
            (c1 - c0) as f64 / 1e6 / flushes,
            d as f64 / flushes
        );
    }
    // ours
    {
        let registry = aiplatform_metrics::Registry::builder().without_self_metrics().build().unwrap();
        let mut fams = Vec::new();
        for k in 0..10 {
            fams.push(registry.register(aiplatform_metrics::Opts::gauge(&format!("requests_g{k}"), "G.").labels(&["method", "path"]).max_series(n)).unwrap());
        }
        for i in 0..n {
            fams[i % 10].with(&[["GET", "POST"][i % 2].to_string(), format!("/api/v1/item{}", i / 10)]).set(i as f64 * 1.5);
        }
        let dd = aiplatform_datadog::Datadog::new().namespace("app").client_telemetry(false).agent(&format!("udp://{addr}")).unwrap();
        let p = dd.dogstatsd_pipeline(&registry).unwrap().interval(Duration::from_secs(3600)).jitter(false).periodic(false).build().unwrap();
        p.flush(Duration::from_secs(5)).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        for round in 0..3 {
            let c0 = thread_cpu_ns("push-datadog").unwrap();
            let l0 = lines.load(Ordering::Relaxed);
            let d0 = dgrams.load(Ordering::Relaxed);
            let t = Instant::now();
            let k = 200;
            for _ in 0..k { p.flush(Duration::from_secs(5)).unwrap(); }
            let el = t.elapsed();
            let c1 = thread_cpu_ns("push-datadog").unwrap();
            std::thread::sleep(Duration::from_millis(100));
            let l = lines.load(Ordering::Relaxed) - l0;
            let d = dgrams.load(Ordering::Relaxed) - d0;
            println!(
                "ours round {round}: lines/flush {:.1}, wall/flush {:.3} ms, cpu/flush {:.3} ms, dgrams/flush {:.1}",
                l as f64 / k as f64,
                el.as_secs_f64() * 1e3 / k as f64,
                (c1 - c0) as f64 / 1e6 / k as f64,
                d as f64 / k as f64
            );
        }
    }
    // raw send cost
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.connect(addr).unwrap();
    let payload = vec![b'a'; 1400];
    let t = Instant::now();
    for _ in 0..35_000 {
        let _ = tx.send(&payload);
    }
    println!("send(): {:.2} us per datagram", t.elapsed().as_secs_f64() * 1e6 / 35_000.0);
    use std::os::fd::AsRawFd;
    let bufs: Vec<Vec<u8>> = (0..400).map(|_| vec![b'a'; 1400]).collect();
    let t = Instant::now();
    for _ in 0..100 { mmsg(tx.as_raw_fd(), &bufs); }
    println!("sendmmsg: {:.2} us per datagram", t.elapsed().as_secs_f64() * 1e6 / 40_000.0);
}

#[allow(dead_code)]
pub fn mmsg(fd: i32, bufs: &[Vec<u8>]) -> usize {
    let mut iovs: Vec<libc::iovec> = bufs
        .iter()
        .map(|b| libc::iovec { iov_base: b.as_ptr() as *mut _, iov_len: b.len() })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| {
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_iov = iov as *mut _;
            h.msg_hdr.msg_iovlen = 1;
            h
        })
        .collect();
    let mut sent = 0;
    while sent < msgs.len() {
        let r = unsafe { libc::sendmmsg(fd, msgs[sent..].as_mut_ptr(), (msgs.len() - sent) as u32, 0) };
        if r <= 0 { break; }
        sent += r as usize;
    }
    sent
}
