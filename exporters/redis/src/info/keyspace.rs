//! `# Keyspace`: `dbN:keys=,expires=,avg_ttl=[,subexpiry=]` → `db_keys`, `db_keys_expiring`,
//! `db_avg_ttl_seconds` (and upstream's `db_keys_cached`, `db_keys_with_expiring_items`).

use super::{comma_pairs, parse_float};
use aiplatform_prometheus::family::FamilySet;

pub(super) fn keyspace(out: &mut FamilySet, upstream: bool, key: &str, value: &str) -> bool {
    if !key.starts_with("db") {
        return false;
    }
    let Some(pairs) = comma_pairs(value) else {
        return false;
    };
    let field = |names: &[&str]| -> Result<Option<f64>, ()> {
        for n in names {
            if let Some((_, v)) = pairs.iter().rev().find(|(k, _)| k == n) {
                return parse_float(v).map(Some).ok_or(());
            }
        }
        Ok(None)
    };
    let (Ok(Some(keys)), Ok(Some(expires))) = (field(&["keys"]), field(&["expires"])) else {
        return false;
    };
    let Ok(avg_ttl) = field(&["avg_ttl"]) else {
        return false;
    };
    let extra = if upstream {
        let (Ok(cached), Ok(sub)) = (
            field(&["cached_keys"]),
            field(&["subexpiry", "keys_with_volatile_items"]),
        ) else {
            return false;
        };
        (cached, sub)
    } else {
        (None, None)
    };
    let l = ["db"];
    out.gauge("db_keys", "Total number of keys by DB", &l, &[key], keys);
    out.gauge(
        "db_keys_expiring",
        "Total number of expiring keys by DB",
        &l,
        &[key],
        expires,
    );
    if let Some(ttl) = avg_ttl {
        out.gauge(
            "db_avg_ttl_seconds",
            "Avg TTL in seconds",
            &l,
            &[key],
            ttl / 1000.0,
        );
    }
    if let Some(cached) = extra.0 {
        out.gauge(
            "db_keys_cached",
            "Total number of cached keys by DB",
            &l,
            &[key],
            cached,
        );
    }
    if let Some(sub) = extra.1 {
        out.gauge(
            "db_keys_with_expiring_items",
            "Total number of keys with expiring items by DB",
            &l,
            &[key],
            sub,
        );
    }
    true
}
