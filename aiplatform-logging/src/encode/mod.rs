//! Encoders: one collected event in, one line out (ECS JSON, logfmt, or pretty text).

pub(crate) mod ecs;
pub(crate) mod fields;
pub(crate) mod json;
pub(crate) mod logfmt;
pub(crate) mod pretty;

use std::time::SystemTime;

use tracing::Level;

use crate::output::Format;
use crate::record::Record;

/// Everything an encoder needs about one event.
#[derive(Debug)]
pub(crate) struct EventView<'a> {
    pub(crate) rec: &'a Record,
    pub(crate) level: Level,
    pub(crate) target: &'a str,
    pub(crate) file: Option<&'static str>,
    pub(crate) line: Option<u32>,
    /// When it happened.
    pub(crate) time: SystemTime,
    /// `@timestamp`, already rendered.
    pub(crate) timestamp: &'a str,
    pub(crate) sequence: u64,
    /// `event.hash`, when fingerprints are on.
    pub(crate) hash: Option<&'a str>,
    /// Span names from root to leaf, joined by `>`.
    pub(crate) spans: &'a str,
}

/// Writes `view` in a built-in `format` into `out`.
pub(crate) fn encode_format(
    format: Format,
    st: &ecs::EcsStatic,
    view: &EventView<'_>,
    scratch: &mut ecs::EcsScratch,
    out: &mut Vec<u8>,
) {
    match format {
        Format::Json => ecs::encode(st, view, scratch, out),
        Format::Logfmt => logfmt::encode(view, out),
        Format::Pretty => pretty::encode(view, false, out),
        Format::PrettyAnsi => pretty::encode(view, true, out),
    }
}

/// Upper-case level name, as ecs-logging writes `log.level`.
pub(crate) fn level_upper(level: Level) -> &'static str {
    match level {
        Level::TRACE => "TRACE",
        Level::DEBUG => "DEBUG",
        Level::INFO => "INFO",
        Level::WARN => "WARN",
        Level::ERROR => "ERROR",
    }
}

/// Lower-case level name, as go-kit's logfmt writes `level=`.
pub(crate) fn level_lower(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}
