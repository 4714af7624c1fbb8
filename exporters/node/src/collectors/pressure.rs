//! `pressure`: pressure stall information from `/proc/pressure/{cpu,io,memory}` (and `irq`
//! upstream), as `node_pressure_*_seconds_total` counters.

use std::io;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use crate::error::{ParseError, ParseErrorKind, ReadError};
use crate::number;
use crate::paths::Paths;
use crate::read::TextBuf;
use aiplatform_prometheus::Compat;
use aiplatform_prometheus::family::scalar;

/// One line's numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PsiLine {
    /// avg10 (percent).
    pub avg10: f64,
    /// avg60 (percent).
    pub avg60: f64,
    /// avg300 (percent).
    pub avg300: f64,
    /// Total stall time in microseconds.
    pub total: u64,
}

/// A resource's `some` and `full` lines.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PsiStats {
    /// Some tasks stalled.
    pub some: Option<PsiLine>,
    /// All non-idle tasks stalled.
    pub full: Option<PsiLine>,
}

/// Parses a `/proc/pressure/<resource>` file; lines with other prefixes are ignored.
pub fn parse_pressure(text: &str) -> Result<PsiStats, ParseError> {
    let mut stats = PsiStats::default();
    for (i, line) in text.lines().enumerate() {
        let err = |kind| ParseError::new("pressure", i + 1, kind);
        let mut parts = line.split(' ');
        let slot = match parts.next() {
            Some("some") => &mut stats.some,
            Some("full") => &mut stats.full,
            _ => continue,
        };
        let mut field = |key: &'static str| -> Result<&str, ParseError> {
            parts
                .next()
                .and_then(|p| p.strip_prefix(key))
                .ok_or_else(|| err(ParseErrorKind::malformed(key, line)))
        };
        let avg10 = number::float(field("avg10=")?).map_err(err)?;
        let avg60 = number::float(field("avg60=")?).map_err(err)?;
        let avg300 = number::float(field("avg300=")?).map_err(err)?;
        let total = number::uint(field("total=")?).map_err(err)?;
        *slot = Some(PsiLine {
            avg10,
            avg60,
            avg300,
            total,
        });
    }
    Ok(stats)
}

fn seconds(line: &PsiLine) -> f64 {
    line.total as f64 / 1000.0 / 1000.0
}

/// The `pressure` collector.
#[derive(Debug)]
pub struct PressureCollector {
    paths: Paths,
    compat: Compat,
    buf: TextBuf,
}

impl PressureCollector {
    /// A collector reading under `paths`.
    pub fn new(paths: Paths, compat: Compat) -> PressureCollector {
        PressureCollector {
            paths,
            compat,
            buf: TextBuf::default(),
        }
    }
}

const CPU_SOME: (&str, &str) = (
    "node_pressure_cpu_waiting_seconds_total",
    "Total time in seconds that processes have waited for CPU time",
);
const IO_SOME: (&str, &str) = (
    "node_pressure_io_waiting_seconds_total",
    "Total time in seconds that processes have waited due to IO congestion",
);
const IO_FULL: (&str, &str) = (
    "node_pressure_io_stalled_seconds_total",
    "Total time in seconds no process could make progress due to IO congestion",
);
const MEM_SOME: (&str, &str) = (
    "node_pressure_memory_waiting_seconds_total",
    "Total time in seconds that processes have waited for memory",
);
const MEM_FULL: (&str, &str) = (
    "node_pressure_memory_stalled_seconds_total",
    "Total time in seconds no process could make progress due to memory congestion",
);
const IRQ_FULL: (&str, &str) = (
    "node_pressure_irq_stalled_seconds_total",
    "Total time in seconds no process could make progress due to IRQ congestion",
);

impl NodeCollector for PressureCollector {
    const NAME: &'static str = "pressure";

    fn from_config(c: &Config) -> PressureCollector {
        PressureCollector::new(c.paths.clone(), c.compat)
    }
}

impl BlockingCollector for PressureCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        type Metric = Option<(&'static str, &'static str)>;
        let resources: &[(&str, Metric, Metric)] = &[
            ("cpu", Some(CPU_SOME), None),
            ("io", Some(IO_SOME), Some(IO_FULL)),
            ("memory", Some(MEM_SOME), Some(MEM_FULL)),
            ("irq", None, Some(IRQ_FULL)),
        ];
        let debian = self.compat.is_debian12();
        let mut found = 0;
        for &(res, some, full) in resources {
            if debian && res == "irq" {
                continue;
            }
            let path = self.paths.proc(&format!("pressure/{res}"));
            let stats = match self.buf.with(&path, parse_pressure) {
                Ok(s) => s,
                Err(ReadError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                    tracing::debug!(
                        resource = res,
                        "pressure information is unavailable, you need a Linux kernel >= 4.20 and/or CONFIG_PSI enabled for your kernel"
                    );
                    if debian {
                        return Err(CollectError::NoData);
                    }
                    continue;
                }
                Err(ReadError::Io { source, .. })
                    if source.raw_os_error() == Some(libc::EOPNOTSUPP) =>
                {
                    tracing::debug!(
                        "pressure information is disabled, add psi=1 kernel command line to enable it"
                    );
                    return Err(CollectError::NoData);
                }
                Err(e) => return Err(CollectError::new(e)),
            };
            for (want, line) in [(some, stats.some), (full, stats.full)] {
                let Some((name, help)) = want else { continue };
                let Some(line) = line else {
                    tracing::debug!(resource = res, "pressure information is missing a line");
                    return Err(CollectError::NoData);
                };
                out.push(scalar(MetricKind::Counter, name, help, seconds(&line)));
            }
            found += 1;
        }
        if found == 0 {
            return Err(CollectError::NoData);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_some_and_full() {
        let s = parse_pressure(
            "some avg10=0.00 avg60=0.10 avg300=0.50 total=381112664\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=26071071\n",
        )
        .unwrap();
        assert_eq!(s.some.unwrap().total, 381112664);
        assert_eq!(s.some.unwrap().avg300, 0.5);
        assert_eq!(seconds(&s.some.unwrap()), 381.112664);
        assert_eq!(s.full.unwrap().total, 26071071);
        assert_eq!(parse_pressure("other line\n").unwrap(), PsiStats::default());
        assert!(parse_pressure("some avg10=x avg60=0 avg300=0 total=1\n").is_err());
        assert!(parse_pressure("some avg10=0.00\n").is_err());
    }
}
