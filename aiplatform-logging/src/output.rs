//! Outputs: where lines go and in which format. A layer can have several (say, pretty text on
//! stdout for a developer and ECS JSON to Logstash); each event is collected and redacted once
//! and encoded once per format.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tracing_appender::rolling::{RollingFileAppender, Rotation};

use crate::Error;
use crate::export::{Encoding, ExportConfig};
use crate::queue::FullPolicy;
use crate::sink::logstash::LogstashConfig;

/// How an event is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// One ECS JSON object per line (production; what Logstash and Kibana expect).
    Json,
    /// go-kit style logfmt (`ts=... caller=... level=info msg=...`), as the Go exporters write.
    Logfmt,
    /// Human-readable text (development).
    Pretty,
    /// Human-readable text with ANSI colours.
    PrettyAnsi,
}

impl FromStr for Format {
    type Err = Error;

    /// Parses `json`, `logfmt`, `pretty` or `pretty-ansi` (case-insensitive).
    fn from_str(s: &str) -> Result<Format, Error> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "logfmt" => Ok(Format::Logfmt),
            "pretty" => Ok(Format::Pretty),
            "pretty-ansi" => Ok(Format::PrettyAnsi),
            _ => Err(Error::Format {
                given: s.to_owned(),
                expected: "json, logfmt, pretty, pretty-ansi",
            }),
        }
    }
}

pub(crate) enum Target {
    Stdout,
    Stderr,
    Writer(Box<dyn Write + Send>),
    Blocking(Box<dyn Write + Send>),
    RollingFile {
        dir: PathBuf,
        prefix: String,
        rotation: Rotation,
        max_files: Option<usize>,
    },
    Appender(RollingFileAppender),
    Logstash(LogstashConfig),
    Export(ExportConfig),
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Stdout => f.write_str("Stdout"),
            Target::Stderr => f.write_str("Stderr"),
            Target::Writer(_) => f.write_str("Writer"),
            Target::Blocking(_) => f.write_str("Blocking"),
            Target::RollingFile { dir, prefix, .. } => f
                .debug_struct("RollingFile")
                .field("dir", dir)
                .field("prefix", prefix)
                .finish_non_exhaustive(),
            Target::Appender(_) => f.write_str("Appender"),
            Target::Logstash(c) => f.debug_tuple("Logstash").field(&c.addr).finish(),
            Target::Export(c) => f.debug_tuple("Export").field(c).finish(),
        }
    }
}

/// One destination with its format and queue settings.
///
/// ```
/// use aiplatform_logging::{Format, FullPolicy, LogstashConfig, Output};
/// use std::time::Duration;
///
/// let console = Output::stdout(Format::Pretty);
/// let shipping = Output::logstash(LogstashConfig::new("logstash:5000"))
///     .queue_capacity(100_000)
///     .full_policy(FullPolicy::DropOldest);
/// let files = Output::rolling_file("/var/log/myapp", "myapp", aiplatform_logging::Rotation::DAILY, Format::Json)
///     .full_policy(FullPolicy::Block(Duration::from_millis(50)));
/// # let _ = (console, shipping, files);
/// ```
#[derive(Debug)]
pub struct Output {
    pub(crate) target: Target,
    pub(crate) format: Format,
    pub(crate) capacity: usize,
    pub(crate) policy: FullPolicy,
    pub(crate) name: Option<String>,
}

impl Output {
    fn new(target: Target, format: Format) -> Output {
        Output {
            target,
            format,
            capacity: 16 * 1024,
            policy: FullPolicy::Block(Duration::from_millis(100)),
            name: None,
        }
    }

    /// Standard output, through a queue and a writer thread.
    pub fn stdout(format: Format) -> Output {
        Output::new(Target::Stdout, format)
    }

    /// Standard error, through a queue and a writer thread (where the Go exporters log).
    pub fn stderr(format: Format) -> Output {
        Output::new(Target::Stderr, format)
    }

    /// Files in `dir` named `prefix.<date>.log`, rotated by `tracing-appender`.
    pub fn rolling_file(
        dir: impl Into<PathBuf>,
        prefix: impl Into<String>,
        rotation: Rotation,
        format: Format,
    ) -> Output {
        Output::new(
            Target::RollingFile {
                dir: dir.into(),
                prefix: prefix.into(),
                rotation,
                max_files: None,
            },
            format,
        )
    }

    /// Keeps at most `n` rotated files (only for [`rolling_file`](Self::rolling_file)).
    pub fn max_files(mut self, n: usize) -> Output {
        if let Target::RollingFile { max_files, .. } = &mut self.target {
            *max_files = Some(n);
        }
        self
    }

    /// A `tracing-appender` file appender you configured yourself.
    pub fn appender(appender: RollingFileAppender, format: Format) -> Output {
        Output::new(Target::Appender(appender), format)
    }

    /// Any writer, through a queue and a writer thread.
    pub fn writer(w: impl Write + Send + 'static, format: Format) -> Output {
        Output::new(Target::Writer(Box::new(w)), format)
    }

    /// Any writer, written on the application thread under a lock, with no queue. For tests,
    /// benches and in-memory buffers; never for something that can block.
    pub fn blocking_writer(w: impl Write + Send + 'static, format: Format) -> Output {
        Output::new(Target::Blocking(Box::new(w)), format)
    }

    /// Logstash over TCP (always ECS JSON lines); queue of 65 536 lines, dropping the newest
    /// line when full. See [`LogstashConfig`].
    pub fn logstash(cfg: LogstashConfig) -> Output {
        Output {
            capacity: 64 * 1024,
            policy: FullPolicy::DropNewest,
            ..Output::new(Target::Logstash(cfg), Format::Json)
        }
    }

    /// Batches sent by a [`LogExporter`](crate::LogExporter) from another crate (an HTTP
    /// log intake, OTLP); see [`ExportConfig`] and the [`export`](crate::export) module.
    /// Queue of 65 536 records, dropping the newest when full, as for Logstash.
    pub fn export(cfg: ExportConfig) -> Output {
        Output {
            capacity: 64 * 1024,
            policy: FullPolicy::DropNewest,
            ..Output::new(Target::Export(cfg), Format::Json)
        }
    }

    /// Memory queue size in lines (default 16 384; Logstash and exports 65 536).
    pub fn queue_capacity(mut self, lines: usize) -> Output {
        self.capacity = lines.max(1);
        self
    }

    /// What to do when the queue is full (default: block up to 100 ms; Logstash and exports:
    /// drop newest).
    pub fn full_policy(mut self, policy: FullPolicy) -> Output {
        self.policy = policy;
        self
    }

    /// The `sink` label of this output's self-metrics (default: `stdout`, `stderr`, `file`,
    /// `writer`, `logstash`, `export`).
    pub fn name(mut self, name: impl Into<String>) -> Output {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn default_name(&self) -> &'static str {
        match self.target {
            Target::Stdout => "stdout",
            Target::Stderr => "stderr",
            Target::Writer(_) | Target::Blocking(_) => "writer",
            Target::RollingFile { .. } | Target::Appender(_) => "file",
            Target::Logstash(_) => "logstash",
            Target::Export(_) => "export",
        }
    }

    /// How the layer encodes events for this output.
    pub(crate) fn encoding(&self) -> Encoding {
        match &self.target {
            Target::Export(cfg) => cfg.encoding.clone(),
            _ => Encoding::Format(self.format),
        }
    }
}
