//! `# Replication`: the replica side (`master_link_up`, `master_last_io_seconds_ago`, ...,
//! KeyDB's numbered masters) and the master side (`connected_slave_*` per replica).

use super::{comma_pairs, parse_float};
use aiplatform_prometheus::family::FamilySet;

/// `^master(_[0-9]+)?<suffix>` (a prefix match, like the Go regexps).
pub(super) fn master_prefixed(key: &str, suffix: &str) -> bool {
    let Some(rest) = key.strip_prefix("master") else {
        return false;
    };
    if rest.starts_with(suffix) {
        return true;
    }
    let Some(numbered) = rest.strip_prefix('_') else {
        return false;
    };
    let digits = numbered.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && numbered[digits..].starts_with(suffix)
}

/// `^(master(_[0-9]+)?_(last_io_seconds_ago|sync_in_progress)|slave_repl_offset)`.
fn master_direct(key: &str) -> bool {
    key.starts_with("slave_repl_offset")
        || master_prefixed(key, "_last_io_seconds_ago")
        || master_prefixed(key, "_sync_in_progress")
}

/// `^slave\d+`.
fn is_numbered_slave(key: &str) -> bool {
    key.strip_prefix("slave")
        .is_some_and(|r| r.bytes().next().is_some_and(|b| b.is_ascii_digit()))
}

pub(super) fn replication(
    out: &mut FamilySet,
    host: &str,
    port: &str,
    key: &str,
    value: &str,
) -> bool {
    let labels = ["master_host", "master_port"];
    if master_prefixed(key, "_link_status") {
        let up = if value == "up" { 1.0 } else { 0.0 };
        out.gauge(
            "master_link_up",
            "Master link status on Redis slave",
            &labels,
            &[host, port],
            up,
        );
        return true;
    }
    if master_direct(key) {
        let (name, help) = if key.ends_with("last_io_seconds_ago") {
            ("master_last_io_seconds_ago", "Master last io seconds ago")
        } else if key.ends_with("sync_in_progress") {
            ("master_sync_in_progress", "Master sync in progress")
        } else if key == "slave_repl_offset" {
            ("slave_repl_offset", "Slave replication offset")
        } else {
            // Go panics on these (no description with labels); skip them.
            return true;
        };
        // Go's strconv.Atoi: anything but an integer is 0.
        let v = value.parse::<i64>().map_or(0.0, |v| v as f64);
        out.gauge(name, help, &labels, &[host, port], v);
        return true;
    }
    if is_numbered_slave(key)
        && let Some(pairs) = comma_pairs(value)
    {
        let get = |k: &str| pairs.iter().rev().find(|(pk, _)| *pk == k).map(|(_, v)| *v);
        let Some(offset) = get("offset").and_then(parse_float) else {
            return false;
        };
        let lag = match get("lag") {
            None => None,
            Some(l) => match parse_float(l) {
                Some(l) => Some(l),
                None => return false,
            },
        };
        let labels = ["slave_ip", "slave_port", "slave_state"];
        let values = [
            get("ip").unwrap_or(""),
            get("port").unwrap_or(""),
            get("state").unwrap_or(""),
        ];
        out.gauge(
            "connected_slave_offset_bytes",
            "Offset of connected slave",
            &labels,
            &values,
            offset,
        );
        if let Some(lag) = lag {
            out.gauge(
                "connected_slave_lag_seconds",
                "Lag of connected slave",
                &labels,
                &values,
                lag,
            );
        }
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn master_patterns() {
        assert!(master_prefixed("master_host", "_host"));
        assert!(master_prefixed("master_12_host", "_host"));
        assert!(!master_prefixed("master__host", "_host"));
        assert!(!master_prefixed("mastr_host", "_host"));
        assert!(master_direct("master_sync_in_progress"));
        assert!(master_direct("master_3_last_io_seconds_ago"));
        assert!(master_direct("slave_repl_offset"));
        assert!(!master_direct("master_sync_last_io_seconds_ago"));
        assert!(is_numbered_slave("slave0") && !is_numbered_slave("slave_read_only"));
    }
}
