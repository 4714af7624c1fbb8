//! `filefd`: `node_filefd_allocated` and `node_filefd_maximum` from `/proc/sys/fs/file-nr`.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use crate::error::{ParseError, ParseErrorKind};
use crate::number;
use crate::paths::Paths;
use crate::read::TextBuf;
use aiplatform_prometheus::family::scalar;

/// `file-nr`'s first and third values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FileFd {
    /// Allocated file handles.
    pub allocated: f64,
    /// The system-wide maximum.
    pub maximum: f64,
}

/// Parses `/proc/sys/fs/file-nr` (three tab-separated numbers, as node_exporter splits it).
pub fn parse_file_nr(text: &str) -> Result<FileFd, ParseError> {
    let err = |kind| ParseError::new("sys/fs/file-nr", 1, kind);
    let parts: Vec<&str> = text.trim().split('\t').collect();
    if parts.len() < 3 {
        return Err(err(ParseErrorKind::FieldCount {
            expected: 3,
            found: parts.len(),
        }));
    }
    Ok(FileFd {
        allocated: number::float(parts[0]).map_err(err)?,
        maximum: number::float(parts[2]).map_err(err)?,
    })
}

/// The `filefd` collector.
#[derive(Debug)]
pub struct FileFdCollector {
    paths: Paths,
    buf: TextBuf,
}

impl FileFdCollector {
    /// A collector reading under `paths`.
    pub fn new(paths: Paths) -> FileFdCollector {
        FileFdCollector {
            paths,
            buf: TextBuf::default(),
        }
    }
}

impl NodeCollector for FileFdCollector {
    const NAME: &'static str = "filefd";

    fn from_config(c: &Config) -> FileFdCollector {
        FileFdCollector::new(c.paths.clone())
    }
}

impl BlockingCollector for FileFdCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let fd = self
            .buf
            .with(&self.paths.proc("sys/fs/file-nr"), parse_file_nr)
            .map_err(CollectError::new)?;
        out.push(scalar(
            MetricKind::Gauge,
            "node_filefd_allocated",
            "File descriptor statistics: allocated.",
            fd.allocated,
        ));
        out.push(scalar(
            MetricKind::Gauge,
            "node_filefd_maximum",
            "File descriptor statistics: maximum.",
            fd.maximum,
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let f = parse_file_nr("1024\t0\t1631329\n").unwrap();
        assert_eq!((f.allocated, f.maximum), (1024.0, 1631329.0));
        assert!(parse_file_nr("1024 0 1631329").is_err());
        assert!(parse_file_nr("x\t0\t1").is_err());
    }
}
