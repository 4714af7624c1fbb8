//! How an exporter process ends: within a deadline whatever its collectors are doing, and, when
//! it cannot start, with one log line in the configured format.

use std::fmt::Write as _;
use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

/// How long [`run_until_stopped`] waits, once the server has stopped, for blocking work still
/// running (a collector stuck in a read of a hung file system): past it the process exits
/// anyway and the stuck thread ends with it.
pub const STOP_DEADLINE: Duration = Duration::from_secs(2);

/// Runs `main` on `runtime`, then shuts the runtime down within [`STOP_DEADLINE`].
///
/// Dropping a tokio runtime waits for every blocking task, however long: a collector blocked
/// in a read that never returns kept the process alive after SIGTERM. Here the server's own
/// shutdown grace bounds the requests, and this deadline bounds everything else.
///
/// ```
/// use std::time::{Duration, Instant};
/// use aiplatform_prometheus::run_until_stopped;
///
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let start = Instant::now();
/// run_until_stopped(runtime, async {
///     // A blocking call that does not return for an hour.
///     tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_secs(3600)));
/// });
/// assert!(start.elapsed() < Duration::from_secs(10));
/// ```
pub fn run_until_stopped<F: Future>(runtime: tokio::runtime::Runtime, main: F) -> F::Output {
    let out = runtime.block_on(main);
    runtime.shutdown_timeout(STOP_DEADLINE);
    out
}

/// The error and its causes on one line, `outer: inner: root`, as Go's wrapped errors print.
///
/// ```
/// use aiplatform_prometheus::one_line;
/// let err = std::io::Error::other("disk on fire\nreally");
/// assert_eq!(one_line(&err), "disk on fire really");
/// ```
pub fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut line = String::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        // Wrappers that print their source themselves would repeat it.
        if !line.contains(text.as_str()) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
        next = e.source();
    }
    line.split_whitespace()
        .fold(String::new(), |mut out, word| {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
            out
        })
}

/// Ends `main` with the result: 0, or 1 after logging the error as one line (no backtrace,
/// whatever `RUST_BACKTRACE` says) in the format logging was set up with, or in go-kit's
/// logfmt on standard error if the failure came before logging was.
///
/// ```no_run
/// use std::process::ExitCode;
/// fn main() -> ExitCode {
///     aiplatform_prometheus::exit_with(Err::<(), _>(std::io::Error::other("no listener")))
/// }
/// ```
pub fn exit_with<E>(result: Result<(), E>) -> ExitCode
where
    E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    let Err(err) = result else {
        return ExitCode::SUCCESS;
    };
    let err: Box<dyn std::error::Error + Send + Sync + 'static> = err.into();
    let line = one_line(err.as_ref());
    if tracing::dispatcher::has_been_set() {
        tracing::error!(err = %line, "exiting on error");
    } else {
        eprintln!("{}", logfmt_error(&line));
    }
    ExitCode::FAILURE
}

/// `level=error msg="exiting on error" err="..."`, quoted as go-kit quotes.
fn logfmt_error(line: &str) -> String {
    let mut out = String::from("level=error msg=\"exiting on error\" err=\"");
    for c in line.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("reading web config")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn chains_join_on_one_line() {
        let e = Outer(std::io::Error::other("permission denied"));
        assert_eq!(one_line(&e), "reading web config: permission denied");
        assert_eq!(
            logfmt_error("a \"b\"\\"),
            r#"level=error msg="exiting on error" err="a \"b\"\\""#
        );
    }

    #[test]
    fn success_exits_zero() {
        assert_eq!(exit_with(Ok::<(), std::io::Error>(())), ExitCode::SUCCESS);
    }
}
