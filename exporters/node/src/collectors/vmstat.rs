//! `vmstat`: `node_vmstat_<field>` (untyped) from `/proc/vmstat`, for the fields matching
//! `--collector.vmstat.fields`.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use regex::Regex;

use crate::filter::NameFilter;

use crate::error::{ParseError, ParseErrorKind};
use crate::number;
use crate::paths::Paths;
use crate::read::TextBuf;
use aiplatform_prometheus::family::{dynamic_family, push};

/// `--collector.vmstat.fields` default.
pub const DEFAULT_FIELDS: &str = "^(oom_kill|pgpg|pswp|pg.*fault).*";

/// Parses `/proc/vmstat` into `(field, value)` pairs. Every value must be a number (as in
/// node_exporter, which parses before filtering).
pub fn parse_vmstat(text: &str) -> Result<Vec<(&str, f64)>, ParseError> {
    let mut out = Vec::with_capacity(200);
    for (i, line) in text.lines().enumerate() {
        let err = |kind| ParseError::new("vmstat", i + 1, kind);
        let mut parts = line.split_ascii_whitespace();
        let Some(name) = parts.next() else { continue };
        let value = parts.next().ok_or_else(|| {
            err(ParseErrorKind::FieldCount {
                expected: 2,
                found: 1,
            })
        })?;
        out.push((name, number::float(value).map_err(err)?));
    }
    Ok(out)
}

/// The `vmstat` collector.
#[derive(Debug)]
pub struct VmstatCollector {
    paths: Paths,
    fields: NameFilter,
    buf: TextBuf,
}

impl VmstatCollector {
    /// A collector reading under `paths`, exporting the fields `fields` matches.
    pub fn new(paths: Paths, fields: Regex) -> VmstatCollector {
        VmstatCollector {
            paths,
            fields: NameFilter::new(fields),
            buf: TextBuf::default(),
        }
    }
}

impl NodeCollector for VmstatCollector {
    const NAME: &'static str = "vmstat";

    fn from_config(c: &Config) -> VmstatCollector {
        VmstatCollector::new(c.paths.clone(), c.vmstat_fields.clone())
    }
}

impl BlockingCollector for VmstatCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        self.buf
            .with(&self.paths.proc("vmstat"), |text| {
                for (name, value) in parse_vmstat(text)? {
                    if !self.fields.is_match(name) {
                        continue;
                    }
                    let metric = format!("node_vmstat_{name}");
                    let help = format!("/proc/vmstat information field {name}.");
                    if let Some(mut f) = dynamic_family(MetricKind::Unknown, &metric, &help, &[]) {
                        push(&mut f, &[], value);
                        out.push(f);
                    }
                }
                Ok(())
            })
            .map_err(CollectError::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let v = parse_vmstat("nr_free_pages 123\npgfault 4\n\n").unwrap();
        assert_eq!(v, [("nr_free_pages", 123.0), ("pgfault", 4.0)]);
        assert!(parse_vmstat("pgfault\n").is_err());
        assert!(parse_vmstat("pgfault x\n").is_err());
        let re = Regex::new(DEFAULT_FIELDS).unwrap();
        assert!(
            re.is_match("pgmajfault") && re.is_match("oom_kill") && !re.is_match("nr_free_pages")
        );
    }
}
