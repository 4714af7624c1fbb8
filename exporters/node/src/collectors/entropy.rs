//! `entropy`: `node_entropy_available_bits` and `node_entropy_pool_size_bits` from
//! `/proc/sys/kernel/random/{entropy_avail,poolsize}`.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::scalar;
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::{NodeCollector, missing_is_no_data};
use crate::config::Config;
use crate::error::ParseError;
use crate::number;
use crate::paths::Paths;
use crate::read::TextBuf;

/// Parses a file holding one unsigned integer, as procfs' `ReadUintFromFile` (surrounding
/// white space allowed); errors name `source`.
pub fn parse_uint_file(source: &'static str, text: &str) -> Result<u64, ParseError> {
    number::uint(text.trim()).map_err(|kind| ParseError::new(source, 1, kind))
}

/// The `entropy` collector.
#[derive(Debug)]
pub struct EntropyCollector {
    paths: Paths,
    buf: TextBuf,
}

impl NodeCollector for EntropyCollector {
    const NAME: &'static str = "entropy";

    fn from_config(c: &Config) -> EntropyCollector {
        EntropyCollector {
            paths: c.paths.clone(),
            buf: TextBuf::default(),
        }
    }
}

impl BlockingCollector for EntropyCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let read = |file: &'static str| {
            self.buf
                .with(&self.paths.proc(file), |t| parse_uint_file(file, t))
                .map_err(missing_is_no_data)
        };
        // node_exporter sends the first before it reads the second.
        let avail = read("sys/kernel/random/entropy_avail")?;
        out.push(scalar(
            MetricKind::Gauge,
            "node_entropy_available_bits",
            "Bits of available entropy.",
            avail as f64,
        ));
        let pool = read("sys/kernel/random/poolsize")?;
        out.push(scalar(
            MetricKind::Gauge,
            "node_entropy_pool_size_bits",
            "Bits of entropy pool.",
            pool as f64,
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!(parse_uint_file("x", "256\n").unwrap(), 256);
        assert!(parse_uint_file("x", "-1").is_err() && parse_uint_file("x", "").is_err());
        assert!(matches!(
            parse_uint_file("x", "x").unwrap_err().kind,
            crate::error::ParseErrorKind::Number { .. }
        ));
    }
}
