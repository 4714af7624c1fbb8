//! Child processes that never outlive their test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::temp::TempDir;

/// A child process, killed and reaped when dropped (a failing test leaves nothing running).
/// Its stdout and stderr go to one log file, which panics messages quote.
///
/// ```
/// use std::process::Command;
/// use aiplatform_testkit::Process;
///
/// let mut cmd = Command::new("sh");
/// cmd.args(["-c", "echo started; sleep 30"]);
/// let p = Process::spawn("sleeper", cmd);
/// aiplatform_testkit::eventually(std::time::Duration::from_secs(5), "output", || p.log().contains("started"));
/// // Dropping `p` kills it.
/// ```
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
    _dir: TempDir,
}

impl Process {
    /// Starts `cmd` (stdin closed, output to the log file); `name` names it in messages.
    pub fn spawn(name: &str, mut cmd: Command) -> Process {
        let dir = TempDir::new("process-log");
        let log = dir.join("output.log");
        let file = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("cloning a file handle"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({cmd:?}): {e}"));
        Process {
            name: name.to_owned(),
            child,
            log,
            _dir: dir,
        }
    }

    /// Starts `cmd` and waits until it listens on 127.0.0.1:`port` (20 s at most); panics
    /// with its log if it exits first or never listens.
    pub fn listening(name: &str, cmd: Command, port: u16) -> Process {
        let mut p = Process::spawn(name, cmd);
        p.wait_for_port(port, Duration::from_secs(20));
        p
    }

    /// Waits until the process listens on 127.0.0.1:`port`; panics with its log if it exits
    /// first or `timeout` passes.
    fn wait_for_port(&mut self, port: u16, timeout: Duration) {
        let log = self.log.clone();
        let name = self.name.clone();
        let child = &mut self.child;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::net::wait_for_listener(port, timeout, &name, || match child.try_wait() {
                Ok(Some(status)) => Err(format!("exited with {status}")),
                _ => Ok(()),
            })
        }));
        if let Err(panic) = result {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!("{why}\n{name} output:\n{}", read(&log));
        }
    }

    /// What the process wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        read(&self.log)
    }

    /// The process id (to read `/proc/<id>/status`).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the process to exit on its own; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut status = None;
        crate::poll(timeout, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status
    }

    /// Asks the process to stop (`SIGTERM`, what a service manager sends) and waits up to
    /// `timeout` for it to exit; `None` if it is still running then (it is killed on drop).
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("running kill -TERM for {}: {e}", self.name));
        assert!(sent.success(), "kill -TERM {} failed: {sent}", self.name);
        let mut status = None;
        crate::poll(timeout, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        status
    }

    /// Kills and reaps the process now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The resident memory of process `pid`, in bytes (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

fn read(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}
