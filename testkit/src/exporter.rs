//! An exporter binary (ours or a Go one) serving on a free 127.0.0.1 port.

use std::ffi::OsStr;
use std::process::Command;

use crate::http::{Response, try_get};
use crate::{Process, Scrape, free_port};

/// An exporter started with `--web.listen-address=127.0.0.1:<free port>`, killed on drop.
///
/// Every request that fails at the transport level panics with the exporter's output, so a
/// crash explains itself.
#[derive(Debug)]
pub struct Exporter {
    /// The port it listens on.
    pub port: u16,
    process: Process,
}

impl Exporter {
    /// Starts `bin` with `args` and waits until it listens. `configure` adjusts the command
    /// first (environment variables, working directory).
    pub fn start<S: AsRef<OsStr>>(
        bin: impl AsRef<OsStr>,
        args: &[S],
        configure: impl FnOnce(&mut Command),
    ) -> Exporter {
        let port = free_port();
        let bin = bin.as_ref();
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args(args);
        configure(&mut cmd);
        let name = std::path::Path::new(bin)
            .file_name()
            .unwrap_or(bin)
            .to_string_lossy()
            .into_owned();
        Exporter {
            port,
            process: Process::listening(&name, cmd, port),
        }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Response {
        self.get_with(path, &[])
    }

    /// `GET path` with extra request headers.
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        try_get(self.port, path, headers).unwrap_or_else(|e| {
            panic!(
                "GET {path} from the exporter on port {}: {e}\nexporter output:\n{}",
                self.port,
                self.process.log()
            )
        })
    }

    /// `GET /metrics`, asserting 200, parsed.
    pub fn scrape(&self) -> Scrape {
        let r = self.get("/metrics");
        assert_eq!(r.status, 200, "GET /metrics: {}", r.body);
        Scrape::parse(r.body)
    }

    /// What the exporter wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Its resident memory now, in bytes (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_bytes(&self) -> u64 {
        crate::process::rss_bytes(self.process.id())
    }

    /// Sends `SIGTERM` and waits up to `timeout` for the exit ([`Process::terminate`]).
    pub fn terminate(&mut self, timeout: std::time::Duration) -> Option<std::process::ExitStatus> {
        self.process.terminate(timeout)
    }
}
