//! `# Commandstats`, `# Latencystats`: per-command calls, time, rejected and failed calls,
//! Redis 8.8's slowlog counts, and the latency percentile summaries that join the two.

use std::collections::BTreeMap;

use super::{extract_val, parse_float};
use aiplatform_prometheus::family::FamilySet;

/// Per-command totals from `# Commandstats`, joined with `# Latencystats` at the end.
#[derive(Default)]
pub(super) struct CommandTotals<'a> {
    pub(super) stats: BTreeMap<&'a str, (u64, f64)>,
    pub(super) latency: BTreeMap<&'a str, Vec<(f64, f64)>>,
}

pub(super) fn command_stats<'a>(
    out: &mut FamilySet,
    upstream: bool,
    key: &'a str,
    value: &str,
    totals: &mut CommandTotals<'a>,
) {
    let Some(cmd) = key.strip_prefix("cmdstat_") else {
        return;
    };
    let mut parts = value.split(',');
    let (Some(p0), Some(p1), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let (Some(calls), Some(usec)) = (extract_val(p0), extract_val(p1)) else {
        return;
    };
    let extended = match (parts.next(), parts.next()) {
        (Some(p3), Some(p4)) => match (extract_val(p3), extract_val(p4)) {
            (Some(r), Some(f)) => Some((r, f)),
            _ => return,
        },
        _ => None,
    };
    let l = ["cmd"];
    out.counter(
        "commands_total",
        "Total number of calls per command",
        &l,
        &[cmd],
        calls,
    );
    out.counter(
        "commands_duration_seconds_total",
        "Total amount of time in seconds spent per command",
        &l,
        &[cmd],
        usec / 1e6,
    );
    if let Some((rejected, failed)) = extended {
        out.counter(
            "commands_rejected_calls_total",
            "Total number of errors within command execution per command",
            &l,
            &[cmd],
            rejected,
        );
        out.counter(
            "commands_failed_calls_total",
            "Total number of errors prior command execution per command",
            &l,
            &[cmd],
            failed,
        );
    }
    if upstream && let Some((count, sum_ms, max_ms)) = slowlog_stats(value) {
        out.counter(
            "commands_slowlog_total",
            "Total number of slowlogged calls per command",
            &l,
            &[cmd],
            count,
        );
        out.counter(
            "commands_slowlog_duration_seconds_total",
            "Total slowlogged command execution time in seconds per command",
            &l,
            &[cmd],
            sum_ms / 1e3,
        );
        out.gauge(
            "commands_slowlog_duration_seconds_max",
            "Maximum slowlogged command execution time in seconds per command",
            &l,
            &[cmd],
            max_ms / 1e3,
        );
    }
    // Go truncates the float call count into a uint64.
    let calls = if calls.is_finite() && calls > 0.0 {
        calls as u64
    } else {
        0
    };
    totals.stats.insert(cmd, (calls, usec));
}

/// Redis 8.8's `slowlog_count`, `slowlog_time_ms_sum`, `slowlog_time_ms_max` (all or none).
fn slowlog_stats(value: &str) -> Option<(f64, f64, f64)> {
    let (mut count, mut sum, mut max) = (None, None, None);
    for part in value.split(',') {
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let slot = match k {
            "slowlog_count" => &mut count,
            "slowlog_time_ms_sum" => &mut sum,
            "slowlog_time_ms_max" => &mut max,
            _ => continue,
        };
        *slot = Some(parse_float(v)?);
    }
    Some((count?, sum?, max?))
}

pub(super) fn latency_stats<'a>(key: &'a str, value: &str, totals: &mut CommandTotals<'a>) {
    let Some(cmd) = key.strip_prefix("latency_percentiles_usec_") else {
        return;
    };
    let mut quantiles = Vec::new();
    for part in value.split(',') {
        let Some((p, v)) = part.split_once('=') else {
            return;
        };
        let (Some(p), Some(v)) = (p.get(1..).and_then(parse_float), parse_float(v)) else {
            return;
        };
        quantiles.push((p, v));
    }
    quantiles.sort_by(|a, b| a.0.total_cmp(&b.0));
    quantiles.dedup_by(|a, b| a.0 == b.0);
    totals.latency.insert(cmd, quantiles);
}
