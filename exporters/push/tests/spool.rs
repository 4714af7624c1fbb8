//! The on-disk spool across a process killed while the receiver is down.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aiplatform_push::{Backoff, HttpTransport, Pipeline, SpoolOptions};
use aiplatform_testkit::{eventually_some as eventually, free_port};
use support::*;

const CHILD_DIR: &str = "AIPLATFORM_PUSH_SPOOL_CHILD_DIR";
const CHILD_PORT: &str = "AIPLATFORM_PUSH_SPOOL_CHILD_PORT";

/// The child's part: push to a receiver that is down, through the spool, until killed.
fn child(dir: &str, port: &str) -> ! {
    let r = registry_with(25);
    let t = HttpTransport::builder(format!("http://127.0.0.1:{port}/in"))
        .build()
        .unwrap();
    let p = Pipeline::builder(&r, "spool_child", Lines::default(), t)
        .interval(Duration::from_millis(50))
        .jitter(false)
        .backoff(Backoff::new(
            Duration::from_millis(20),
            Duration::from_millis(100),
        ))
        .spool(SpoolOptions::new(dir))
        .build()
        .unwrap();
    loop {
        // Every collection counted here has been written to the spool.
        println!("SPOOLED {}", p.collections());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_process_killed_while_the_receiver_is_down_delivers_its_spool_after_restart() {
    if let (Ok(dir), Ok(port)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_PORT)) {
        child(&dir, &port);
    }
    let dir = std::env::temp_dir().join(format!("aipush-spool-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = free_port();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_process_killed_while_the_receiver_is_down_delivers_its_spool_after_restart",
            "--nocapture",
        ])
        .env(CHILD_DIR, &dir)
        .env(CHILD_PORT, port.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    let spooled = loop {
        let line = lines.next().expect("the child runs").unwrap();
        if let Some(n) = line.strip_prefix("SPOOLED ") {
            let n: u64 = n.parse().unwrap();
            if n >= 8 {
                break n;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the child is stuck"
        );
    };
    // SIGKILL: no shutdown, no flush, no destructor.
    child.kill().unwrap();
    child.wait().unwrap();

    let rx = Receiver::start_with(
        Some(port),
        std::sync::Arc::new(|_: &Captured, _: &[Captured]| Reply::ok()),
    );
    capture_logs();
    let r = registry_with(0);
    let t = HttpTransport::builder(rx.url("/in")).build().unwrap();
    let p = Pipeline::builder(&r, "spool_restarted", Lines::default(), t)
        .periodic(false)
        .collect_on_shutdown(false)
        .spool(SpoolOptions::new(&dir))
        .build()
        .unwrap();
    eventually(Duration::from_secs(20), "the spooled batches", || {
        (collections_seen(&rx.requests()).len() as u64 >= spooled).then_some(())
    });
    p.shutdown(Duration::from_secs(5)).unwrap();
    let seen = collections_seen(&rx.requests());
    // The child may have spooled more after its last report; in order, from the first.
    assert_eq!(
        seen[..spooled as usize],
        (1..=spooled).collect::<Vec<_>>()[..]
    );
    assert!(
        seen.windows(2).all(|w| w[1] == w[0] + 1),
        "no gap: {seen:?}"
    );
    let lines = series_lines(&rx.requests());
    assert_eq!(lines.len(), seen.len() * 25);
    assert!(lines.contains(&r#"work{shard="s0024"} 25"#.to_owned()));
    drop(p);
    // Delivered batches are confirmed: a third start sends nothing again.
    let t = HttpTransport::builder(rx.url("/in")).build().unwrap();
    let before = rx.requests().len();
    let p = Pipeline::builder(&r, "spool_third", Lines::default(), t)
        .periodic(false)
        .collect_on_shutdown(false)
        .spool(SpoolOptions::new(&dir))
        .build()
        .unwrap();
    p.shutdown(Duration::from_secs(5)).unwrap();
    assert_eq!(rx.requests().len(), before);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_spool_is_locked_by_its_process() {
    let dir = std::env::temp_dir().join(format!("aipush-spool-lock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let r = registry_with(1);
    let build = || {
        let t = HttpTransport::builder("http://127.0.0.1:9/in")
            .build()
            .unwrap();
        Pipeline::builder(&r, "spool_lock", Lines::default(), t)
            .periodic(false)
            .collect_on_shutdown(false)
            .spool(SpoolOptions::new(&dir))
            .build()
    };
    let first = build().unwrap();
    let second = build().unwrap_err().to_string();
    assert!(second.contains("spool"), "{second}");
    drop(first);
    let _ = std::fs::remove_dir_all(&dir);
}
