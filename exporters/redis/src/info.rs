//! `INFO ALL` text → metric families: a pure function of the text, the profile and the
//! database count, ported from redis_exporter's `extractInfoMetrics`.
//!
//! Lines are split on the first `:`; `# Section` headers switch handling. Fields that are
//! not mapped (and do not start with `db`, `cmdstat_` or `cluster_`) are skipped, as are
//! values that do not parse. Nothing here can fail or panic on any input.

use crate::info_map::InfoMap;
use aiplatform_metrics::MetricKind;
use aiplatform_prometheus::Compat;
use aiplatform_prometheus::family::{FamilySet, Help, push};

mod commands;
mod keyspace;
mod replication;

use commands::{CommandTotals, command_stats, latency_stats};
use keyspace::keyspace;
use replication::{master_prefixed, replication};

/// What [`extract_info_metrics`] needs besides the text.
#[derive(Debug)]
pub struct InfoOptions<'a> {
    /// The profile.
    pub compat: Compat,
    /// The field table for that profile.
    pub map: &'a InfoMap,
    /// Databases to zero-fill `db_keys` / `db_keys_expiring` for (`db0..db{n-1}`).
    pub db_count: usize,
    /// The current time, seconds since the Unix epoch (for `start_time_seconds`).
    pub now_unix: f64,
}

/// What the rest of the scrape needs to know from `INFO`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InfoSummary {
    /// `role` (`master` or `slave`).
    pub role: String,
    /// `cluster_enabled:1`.
    pub cluster_enabled: bool,
    /// `run_id`: changes when the server restarts.
    pub run_id: String,
}

/// The INFO fields `redis_instance_info` and `redis_slave_info` are made of.
#[derive(Default)]
struct KeyValues<'a> {
    role: &'a str,
    redis_version: &'a str,
    redis_build_id: &'a str,
    redis_mode: Option<&'a str>,
    server_mode: &'a str,
    os: &'a str,
    maxmemory_policy: &'a str,
    tcp_port: &'a str,
    run_id: &'a str,
    process_id: &'a str,
    master_replid: &'a str,
    valkey_version: Option<&'a str>,
    valkey_release_stage: Option<&'a str>,
    availability_zone: &'a str,
    master_host: &'a str,
    master_port: &'a str,
    slave_read_only: &'a str,
    cluster_enabled: &'a str,
}

impl<'a> KeyValues<'a> {
    fn record(&mut self, key: &str, value: &'a str) {
        let slot = match key {
            "role" => &mut self.role,
            "redis_version" => &mut self.redis_version,
            "redis_build_id" => &mut self.redis_build_id,
            "redis_mode" => {
                self.redis_mode = Some(value);
                return;
            }
            "server_mode" => &mut self.server_mode,
            "os" => &mut self.os,
            "maxmemory_policy" => &mut self.maxmemory_policy,
            "tcp_port" => &mut self.tcp_port,
            "run_id" => &mut self.run_id,
            "process_id" => &mut self.process_id,
            "master_replid" => &mut self.master_replid,
            "valkey_version" => {
                self.valkey_version = Some(value);
                return;
            }
            "valkey_release_stage" => {
                self.valkey_release_stage = Some(value);
                return;
            }
            "availability_zone" => &mut self.availability_zone,
            "master_host" => &mut self.master_host,
            "master_port" => &mut self.master_port,
            "slave_read_only" => &mut self.slave_read_only,
            "cluster_enabled" => &mut self.cluster_enabled,
            _ => return,
        };
        *slot = value;
    }
}
/// Go's `strconv.ParseFloat` for the forms Redis prints (Rust's parser also accepts `inf`
/// and `nan`, as Go's does).
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    s.parse::<f64>().ok()
}

/// `k=v` → the float `v` (redis_exporter's `extractVal`).
pub(crate) fn extract_val(s: &str) -> Option<f64> {
    let mut parts = s.split('=');
    let (_, v) = (parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    parse_float(v)
}

/// `k=v,k=v,...` → pairs; `None` when a part has no `=`.
pub(crate) fn comma_pairs(s: &str) -> Option<Vec<(&str, &str)>> {
    s.split(',').map(|p| p.split_once('=')).collect()
}

/// Sanitises an INFO field into a metric name part (`[^a-zA-Z0-9_]` → `_`).
pub(crate) fn sanitize(name: &str) -> std::borrow::Cow<'_, str> {
    if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        std::borrow::Cow::Borrowed(name)
    } else {
        name.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
            .into()
    }
}
/// Appends every family derived from `info` to `out` and reports the role.
pub fn extract_info_metrics(
    info: &str,
    opts: &InfoOptions<'_>,
    out: &mut FamilySet,
) -> InfoSummary {
    let upstream = opts.compat == Compat::Upstream;
    let mut kv = KeyValues::default();
    let mut handled_dbs: Vec<&str> = Vec::new();
    let mut commands = CommandTotals::default();
    let mut section = "";
    let mut master_host = "";
    let mut master_port = "";

    for raw in info.split('\n') {
        let line = raw.trim();
        if let Some(name) = line.strip_prefix("# ") {
            section = name;
            continue;
        }
        if line.len() < 2 {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        kv.record(key, value);
        if master_prefixed(key, "_host") {
            master_host = value;
        }
        if master_prefixed(key, "_port") {
            master_port = value;
        }

        match section {
            "Replication" if replication(out, master_host, master_port, key, value) => continue,
            "Server" => server(out, upstream, opts.now_unix, key, value),
            "Commandstats" => {
                command_stats(out, upstream, key, value, &mut commands);
                continue;
            }
            "Latencystats" => {
                latency_stats(key, value, &mut commands);
                continue;
            }
            "Errorstats" => {
                if let Some(err) = key.strip_prefix("errorstat_")
                    && let Some(count) = extract_val(value)
                {
                    out.counter(
                        "errors_total",
                        "Total number of errors per error type",
                        &["err"],
                        &[err],
                        count,
                    );
                }
                continue;
            }
            "Cluster Info" if upstream => continue,
            "Keyspace" if keyspace(out, upstream, key, value) => {
                handled_dbs.push(key);
                continue;
            }
            _ => {}
        }
        if upstream && active_time_io_thread(out, key, value) {
            continue;
        }
        if include_metric(opts.map, key) {
            register_field(out, opts.map, key, value);
        }
    }

    for (cmd, quantiles) in &commands.latency {
        if let Some(&(count, sum)) = commands.stats.get(cmd) {
            out.summary(
                "latency_percentiles_usec",
                "A summary of latency percentile distribution per command",
                &["cmd"],
                &[cmd],
                quantiles,
                count,
                sum,
            );
        }
    }

    for db in 0..opts.db_count {
        let name = format!("db{db}");
        if !handled_dbs.contains(&name.as_str()) {
            out.gauge(
                "db_keys",
                "Total number of keys by DB",
                &["db"],
                &[&name],
                0.0,
            );
            out.gauge(
                "db_keys_expiring",
                "Total number of expiring keys by DB",
                &["db"],
                &[&name],
                0.0,
            );
        }
    }

    instance_info(out, upstream, &kv);
    if kv.role == "slave" {
        out.gauge(
            "slave_info",
            "Information about the Redis slave",
            &["master_host", "master_port", "read_only"],
            &[kv.master_host, kv.master_port, kv.slave_read_only],
            1.0,
        );
    }
    InfoSummary {
        role: kv.role.to_owned(),
        cluster_enabled: kv.cluster_enabled == "1",
        run_id: kv.run_id.to_owned(),
    }
}

fn instance_info(out: &mut FamilySet, upstream: bool, kv: &KeyValues<'_>) {
    let mode = match kv.redis_mode {
        Some(m) if !m.is_empty() => m,
        _ if upstream => kv.server_mode,
        _ => kv.redis_mode.unwrap_or(""),
    };
    let mut labels = vec![
        "role",
        "redis_version",
        "redis_build_id",
        "redis_mode",
        "os",
        "maxmemory_policy",
        "tcp_port",
        "run_id",
        "process_id",
    ];
    let mut values = vec![
        kv.role,
        kv.redis_version,
        kv.redis_build_id,
        mode,
        kv.os,
        kv.maxmemory_policy,
        kv.tcp_port,
        kv.run_id,
        kv.process_id,
    ];
    if upstream {
        labels.push("master_replid");
        values.push(kv.master_replid);
        if let Some(v) = kv.valkey_version {
            labels.push("valkey_version");
            values.push(v);
        }
        if let Some(v) = kv.valkey_release_stage {
            labels.push("valkey_release_stage");
            values.push(v);
        }
        if !kv.availability_zone.is_empty() {
            labels.push("availability_zone");
            values.push(kv.availability_zone);
        }
    }
    out.gauge(
        "instance_info",
        "Information about the Redis instance",
        &labels,
        &values,
        1.0,
    );
}
fn server(out: &mut FamilySet, upstream: bool, now: f64, key: &str, value: &str) {
    match key {
        "uptime_in_seconds" => {
            if let Some(uptime) = parse_float(value) {
                out.gauge(
                    "start_time_seconds",
                    "Start time of the Redis instance since unix epoch in seconds.",
                    &[],
                    &[],
                    now.trunc() - uptime,
                );
            }
        }
        "configured_hz" | "hz" if upstream => {
            if let Ok(hz) = value.parse::<i64>() {
                out.gauge(key, &format!("{key} metric"), &[], &[], hz as f64);
            }
        }
        _ => {}
    }
}
/// `^used_active_time_io_thread_([0-9]+)$` → `active_time_io_thread_seconds_total{thread}`.
fn active_time_io_thread(out: &mut FamilySet, key: &str, value: &str) -> bool {
    let Some(thread) = key.strip_prefix("used_active_time_io_thread_") else {
        return false;
    };
    if thread.is_empty() || !thread.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    if let Some(v) = parse_float(value) {
        out.counter(
            "active_time_io_thread_seconds_total",
            "active_time_io_thread_seconds_total metric",
            &["thread"],
            &[thread],
            v,
        );
    }
    true
}

fn include_metric(map: &InfoMap, key: &str) -> bool {
    key.starts_with("db")
        || key.starts_with("cmdstat_")
        || key.starts_with("cluster_")
        || map.get(key).is_some()
}

/// redis_exporter's `parseAndRegisterConstMetric`.
pub(crate) fn register_field(out: &mut FamilySet, map: &InfoMap, key: &str, value: &str) {
    let sanitized = sanitize(key);
    let mapped = map.get(&sanitized);
    let mut name: &str = mapped.map_or(&sanitized, |m| m.name);
    let mut v = match value {
        "ok" | "true" => 1.0,
        "err" | "fail" | "false" => 0.0,
        other => match parse_float(other) {
            Some(v) => v,
            None => return,
        },
    };
    match name {
        "latest_fork_usec" => {
            name = "latest_fork_seconds";
            v /= 1e6;
        }
        "slowlog_commands_duration_seconds_max" | "slowlog_commands_duration_seconds_total" => {
            v /= 1e3;
        }
        _ => {}
    }
    info_metric(
        out,
        name,
        mapped.is_some_and(|m| m.kind == MetricKind::Counter),
        v,
    );
}

/// An INFO-derived sample without labels, HELP `"<name> metric"` as redis_exporter has it: a
/// counter when `counter` (a negative or NaN value, which no counter has, is left out), else a
/// gauge.
pub(crate) fn info_metric(out: &mut FamilySet, name: &str, counter: bool, v: f64) {
    let kind = if counter {
        if v.is_nan() || v < 0.0 {
            return;
        }
        MetricKind::Counter
    } else {
        MetricKind::Gauge
    };
    if let Some(f) = out.family_with(kind, name, Help::NameMetric, &[]) {
        push(f, &[], v);
    }
}

/// Metrics from `CLUSTER INFO` (`cluster_state:ok` → 1).
pub fn extract_cluster_info_metrics(info: &str, map: &InfoMap, out: &mut FamilySet) {
    for line in info.split("\r\n") {
        let mut parts = line.split(':');
        let (Some(key), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if include_metric(map, key) {
            register_field(out, map, key, value);
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extract_val_needs_one_equals() {
        assert_eq!(extract_val("calls=21"), Some(21.0));
        assert_eq!(extract_val("calls"), None);
        assert_eq!(extract_val("a=1=2"), None);
    }
}
