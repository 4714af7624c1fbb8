//! The example API sends its metrics to a DogStatsD agent named by `DD_DOGSTATSD_URL`, tagged
//! with `DD_ENV` / `DD_SERVICE`, and its last counts go out when it stops.

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use aiplatform_testkit::{Process, free_port};

/// The summed value of `name` lines (`name:<v>|c|#...`) among `lines`.
fn sum(lines: &[String], name: &str) -> f64 {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(|rest| rest.split('|').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

fn receive(
    agent: &UdpSocket,
    lines: &mut Vec<String>,
    for_at_most: Duration,
    until: impl Fn(&[String]) -> bool,
) {
    let start = Instant::now();
    let mut buf = vec![0u8; 65536];
    while !until(lines) && start.elapsed() < for_at_most {
        if let Ok(n) = agent.recv(&mut buf) {
            lines.extend(
                String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .map(str::to_owned),
            );
        }
    }
}

#[test]
fn the_api_sends_dogstatsd_to_the_agent_and_flushes_at_shutdown() {
    let agent = UdpSocket::bind("127.0.0.1:0").unwrap();
    agent
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let api_port = free_port();
    let api = format!("http://127.0.0.1:{api_port}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aiplatform-api"));
    cmd.args([
        "--listen",
        &format!("127.0.0.1:{api_port}"),
        "--log-level",
        "warn",
    ])
    .env(
        "DD_DOGSTATSD_URL",
        format!("udp://{}", agent.local_addr().unwrap()),
    )
    .env("DD_ENV", "ci")
    .env("AIPLATFORM_DATADOG_INTERVAL", "1")
    .env_remove("DD_API_KEY")
    .env_remove("DD_AGENT_HOST");
    let mut child = Process::listening("aiplatform-api", cmd, api_port);
    let client = reqwest::blocking::Client::new();
    let predict = |n: usize| {
        for _ in 0..n {
            let r = client
                .post(format!("{api}/api/v1/predict"))
                .json(&serde_json::json!({"features": [0.5, 1.5]}))
                .send()
                .unwrap();
            assert!(r.status().is_success());
        }
    };
    predict(3);
    let name = "aiplatform_ml_predictions.count";
    let mut lines = Vec::new();
    receive(&agent, &mut lines, Duration::from_secs(30), |l| {
        sum(l, name) >= 3.0
    });
    assert_eq!(sum(&lines, name), 3.0, "{}", child.log());
    let line = lines.iter().find(|l| l.starts_with(name)).unwrap();
    assert!(
        line.contains("env:ci") && line.contains("service:aiplatform-api"),
        "{line}"
    );

    // Two more, then SIGTERM right away: the shutdown flush carries them.
    predict(2);
    let status = child
        .terminate(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("the API did not stop on SIGTERM:\n{}", child.log()));
    assert!(status.success(), "{status}\n{}", child.log());
    receive(&agent, &mut lines, Duration::from_secs(5), |l| {
        sum(l, name) >= 5.0
    });
    assert_eq!(sum(&lines, name), 5.0);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("datadog.dogstatsd.client.packets_sent:"))
    );
}
