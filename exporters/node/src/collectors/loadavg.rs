//! `loadavg`: `node_load1`, `node_load5`, `node_load15` from `/proc/loadavg`.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use crate::error::{ParseError, ParseErrorKind};
use crate::number;
use crate::paths::Paths;
use crate::read::TextBuf;
use aiplatform_prometheus::family::scalar;

/// The three load averages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loadavg {
    /// 1 minute.
    pub load1: f64,
    /// 5 minutes.
    pub load5: f64,
    /// 15 minutes.
    pub load15: f64,
}

/// Parses `/proc/loadavg` (`0.93 1.62 1.63 2/345 6789`).
pub fn parse_loadavg(text: &str) -> Result<Loadavg, ParseError> {
    let err = |kind| ParseError::new("loadavg", 1, kind);
    let mut fields = text.split_ascii_whitespace();
    let mut next = || -> Result<f64, ParseError> {
        let f = fields
            .next()
            .ok_or_else(|| err(ParseErrorKind::Missing("three load averages")))?;
        number::float(f).map_err(err)
    };
    Ok(Loadavg {
        load1: next()?,
        load5: next()?,
        load15: next()?,
    })
}

/// The `loadavg` collector.
#[derive(Debug)]
pub struct LoadavgCollector {
    paths: Paths,
    buf: TextBuf,
}

impl LoadavgCollector {
    /// A collector reading under `paths`.
    pub fn new(paths: Paths) -> LoadavgCollector {
        LoadavgCollector {
            paths,
            buf: TextBuf::default(),
        }
    }
}

impl NodeCollector for LoadavgCollector {
    const NAME: &'static str = "loadavg";

    fn from_config(c: &Config) -> LoadavgCollector {
        LoadavgCollector::new(c.paths.clone())
    }
}

impl BlockingCollector for LoadavgCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let l = self
            .buf
            .with(&self.paths.proc("loadavg"), parse_loadavg)
            .map_err(CollectError::new)?;
        out.push(scalar(
            MetricKind::Gauge,
            "node_load1",
            "1m load average.",
            l.load1,
        ));
        out.push(scalar(
            MetricKind::Gauge,
            "node_load5",
            "5m load average.",
            l.load5,
        ));
        out.push(scalar(
            MetricKind::Gauge,
            "node_load15",
            "15m load average.",
            l.load15,
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let l = parse_loadavg("0.02 0.04 0.05 1/497 11947\n").unwrap();
        assert_eq!((l.load1, l.load5, l.load15), (0.02, 0.04, 0.05));
        assert!(parse_loadavg("0.02 0.04").is_err());
        assert!(parse_loadavg("a b c").is_err());
        assert!(parse_loadavg("").is_err());
    }
}
