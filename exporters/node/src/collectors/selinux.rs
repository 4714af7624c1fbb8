//! `selinux`: `node_selinux_enabled`, and when enabled `node_selinux_config_mode` and
//! `node_selinux_current_mode` (1 enforcing, 0 permissive, -1 disabled), read as
//! go-selinux reads them: the selinuxfs `enforce` file, the process's own label (SELinux is
//! off when it is `kernel` or unreadable) and `SELINUX=` in `/etc/selinux/config`.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::family::scalar;
use aiplatform_prometheus::{BlockingCollector, CollectError, ScrapeContext};

use super::NodeCollector;
use crate::config::Config;
use crate::paths::Paths;
use crate::read::read_string;

/// go-selinux's mode from the `SELINUX=` line of `/etc/selinux/config` (the last one wins;
/// a missing line or unknown value is disabled, -1).
pub fn parse_config_mode(text: &str) -> i64 {
    let mut mode = "";
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some((k, v)) = line.split_once('=')
            && k.trim() == "SELINUX"
        {
            mode = v.trim().trim_matches('"');
        }
    }
    match mode {
        "enforcing" => 1,
        "permissive" => 0,
        _ => -1,
    }
}

/// The value of selinuxfs' `enforce` (-1 when it is not a number).
pub fn parse_enforce(text: &str) -> i64 {
    text.trim().parse().unwrap_or(-1)
}

/// The `selinux` collector.
#[derive(Debug)]
pub struct SelinuxCollector {
    paths: Paths,
}

impl NodeCollector for SelinuxCollector {
    const NAME: &'static str = "selinux";

    fn from_config(c: &Config) -> SelinuxCollector {
        SelinuxCollector {
            paths: c.paths.clone(),
        }
    }
}

impl SelinuxCollector {
    /// selinuxfs' `enforce`, when SELinux is on.
    fn enforce(&self) -> Option<String> {
        let enforce = read_string(&self.paths.sys("fs/selinux/enforce")).ok()?;
        let label = read_string(&self.paths.proc("thread-self/attr/current"))
            .or_else(|_| read_string(&self.paths.proc("self/attr/current")))
            .ok()?;
        let label = label.trim_end_matches(['\0', '\n', ' ']);
        (!label.is_empty() && label != "kernel").then_some(enforce)
    }
}

impl BlockingCollector for SelinuxCollector {
    fn collect(&self, _: &ScrapeContext, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let gauge = |name: &str, help: &str, v: f64| scalar(MetricKind::Gauge, name, help, v);
        let Some(enforce) = self.enforce() else {
            out.push(gauge(
                "node_selinux_enabled",
                "SELinux is enabled, 1 is true, 0 is false",
                0.0,
            ));
            return Ok(());
        };
        let config =
            read_string(&self.paths.rootfs_join("/etc/selinux/config")).unwrap_or_default();
        out.push(gauge(
            "node_selinux_enabled",
            "SELinux is enabled, 1 is true, 0 is false",
            1.0,
        ));
        out.push(gauge(
            "node_selinux_config_mode",
            "Configured SELinux enforcement mode",
            parse_config_mode(&config) as f64,
        ));
        out.push(gauge(
            "node_selinux_current_mode",
            "Current SELinux enforcement mode",
            parse_enforce(&enforce) as f64,
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(
            parse_config_mode("# x\nSELINUX=enforcing\nSELINUXTYPE=targeted\n"),
            1
        );
        assert_eq!(parse_config_mode("SELINUX=permissive"), 0);
        assert_eq!(parse_config_mode("SELINUX=disabled"), -1);
        assert_eq!(parse_config_mode(""), -1);
        assert_eq!(
            (parse_enforce("1\n"), parse_enforce("0"), parse_enforce("x")),
            (1, 0, -1)
        );
    }
}
