//! Child processes for the live tests: free ports, processes killed when dropped, required
//! commands, polling.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A TCP port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0 to find a free port")
}

/// The path of `command`, or a panic that says which Debian package provides it.
///
/// A missing tool fails the test with the install command instead of skipping it:
/// `scripts/test.sh` installs every tool listed in `scripts/lib/deps.sh`.
pub fn require_command(command: &str, debian_package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(command))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{command}` is not installed: apt-get install {debian_package} \
                 (scripts/test.sh installs it)"
            )
        })
}

/// Runs a validator to completion: whether it succeeded, and its stdout and stderr together
/// (for the assertion message). The command comes from [`require_command`].
pub fn run_tool(command: &str, debian_package: &str, args: &[&std::ffi::OsStr]) -> (bool, String) {
    let out = Command::new(require_command(command, debian_package))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {command}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A child process, killed and reaped when dropped, whose output goes to a log file that
/// failures can quote.
#[derive(Debug)]
pub struct Running {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Running {
    /// Spawns `command` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Running {
        let out = File::create(log).unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
        let err = out.try_clone().expect("duplicating the log file handle");
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({command:?}): {e}"));
        Running {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
        }
    }

    /// What the process wrote so far (the last 4 KiB), for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(4096);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        format!(
            "--- {} log ({}) ---\n{}",
            self.name,
            self.log.display(),
            &text[start..]
        )
    }

    /// Panics with the log if the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited with {status}\n{}", self.name, self.log_tail());
        }
    }

    /// Stops the process now (SIGKILL) and waits for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `limit` with `what`
/// and the last error `check` reported.
pub fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + limit;
    let mut last = String::from("never checked");
    while Instant::now() < deadline {
        match check() {
            Ok(value) => return value,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {limit:?} waiting for {what}; last: {last}")
}

/// `GET url`, the body as text; an error for any failure or non-2xx status.
pub fn http_get(url: &str) -> Result<String, String> {
    let response = client()
        .get(url)
        .send()
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status();
    let body = response.text().map_err(|e| format!("GET {url}: {e}"))?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("GET {url}: {status}: {body}"))
    }
}

/// The blocking HTTP client every helper shares (short timeouts: everything is local).
pub fn client() -> &'static reqwest::blocking::Client {
    static CLIENT: std::sync::OnceLock<reqwest::blocking::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("building the HTTP client")
    })
}
