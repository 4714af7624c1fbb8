//! `settings`: every numeric and boolean run-time parameter (`pg_settings`), with units
//! converted to seconds or bytes.

use std::sync::atomic::Ordering;

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::CollectError;
use parking_lot::Mutex;

use super::{Cx, PgCollector, query};
use super::{values_with_server, with_server};
use crate::cell::Cell;
use aiplatform_prometheus::family::{FamilySet, Naming};

/// `pg_settings_<name>[_seconds|_bytes]`. A unit this exporter does not know, or a value
/// that is not a number, skips that one setting (logged, counted in
/// `pg_exporter_settings_skipped_total`), never the scrape and never the process
/// (upstream #372, #740: `panic: Unknown unit for runtime variable: "64kB"`).
///
/// The exporter's session sees new values only when the configuration is reloaded, so the
/// converted rows are reused while the connection and `pg_conf_load_time()` stay the same.
#[derive(Debug, Default)]
pub struct Settings {
    cache: Mutex<Option<Cached>>,
}

#[derive(Debug, Clone)]
struct Cached {
    session: u64,
    loaded: f64,
    rows: Vec<(String, String, f64)>,
}

const SQL: &str = "SELECT name, setting, COALESCE(unit, ''), COALESCE(short_desc, ''), vartype \
    FROM pg_settings WHERE vartype IN ('bool', 'integer', 'real') \
    AND name NOT IN ('sync_commit_cancel_wait', 'google_dataplex.max_messages')";

/// What a `pg_settings.unit` converts to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SettingsUnit {
    /// No unit: the value as is.
    None,
    /// Seconds, after multiplying by the factor.
    Seconds(f64),
    /// Bytes, after multiplying by the factor.
    Bytes(f64),
}

/// Parses a `pg_settings.unit`: `ms`, `s`, `min`, `h`, `d`; `B`, `kB`, `MB`, `GB`, `TB`
/// with an optional block multiplier (`8kB`, `16MB`, `64kB`, ...). `None` for anything else.
pub fn parse_unit(unit: &str) -> Option<SettingsUnit> {
    Some(match unit {
        "" => SettingsUnit::None,
        "ms" => SettingsUnit::Seconds(0.001),
        "s" => SettingsUnit::Seconds(1.0),
        "min" => SettingsUnit::Seconds(60.0),
        "h" => SettingsUnit::Seconds(3600.0),
        "d" => SettingsUnit::Seconds(86_400.0),
        _ => {
            let digits = unit.len() - unit.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let (n, base) = unit.split_at(digits);
            let n: f64 = if n.is_empty() {
                1.0
            } else {
                n.parse().ok().filter(|v: &f64| *v > 0.0)?
            };
            let base = match base {
                "B" => 1.0,
                "kB" => 1024.0,
                "MB" => 1024.0 * 1024.0,
                "GB" => 1024.0 * 1024.0 * 1024.0,
                "TB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
                _ => return None,
            };
            SettingsUnit::Bytes(n * base)
        }
    })
}

/// The metric name suffix, factor and HELP suffix of one setting, or why it is skipped.
fn convert(setting: &str, unit: &str, vartype: &str) -> Result<(f64, &'static str), &'static str> {
    if vartype == "bool" {
        return Ok((if setting == "on" { 1.0 } else { 0.0 }, ""));
    }
    let unit_kind = parse_unit(unit).ok_or("unknown unit")?;
    // Some managed services append the unit to the value (upstream #619).
    let trimmed = setting
        .strip_suffix(unit)
        .filter(|_| !unit.is_empty())
        .unwrap_or(setting);
    let v: f64 = trimmed
        .trim()
        .parse()
        .map_err(|_| "value is not a number")?;
    Ok(match unit_kind {
        SettingsUnit::None => (v, ""),
        // -1 means "disabled" and is left as is.
        SettingsUnit::Seconds(_) if v == -1.0 => (v, "seconds"),
        SettingsUnit::Bytes(_) if v == -1.0 => (v, "bytes"),
        SettingsUnit::Seconds(f) => (v * f, "seconds"),
        SettingsUnit::Bytes(f) => (v * f, "bytes"),
    })
}

impl PgCollector for Settings {
    const NAME: &'static str = "settings";

    async fn collect(&self, cx: &Cx<'_>, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let loaded = query(
            cx,
            "SELECT extract(epoch FROM pg_conf_load_time())::float8",
            &[],
        )
        .await?
        .first()
        .and_then(|r| r.get::<_, Cell>(0).non_null_f64())
        .unwrap_or(f64::NAN);
        let session = cx.session.id();
        let cached = self
            .cache
            .lock()
            .as_ref()
            .filter(|c| c.session == session && c.loaded == loaded)
            .map(|c| c.rows.clone());
        let converted = match cached {
            Some(rows) => rows,
            None => {
                let rows = self.convert_all(cx).await?;
                *self.cache.lock() = Some(Cached {
                    session,
                    loaded,
                    rows: rows.clone(),
                });
                rows
            }
        };
        let server = cx.legacy_server();
        let labels = with_server(&[], server);
        let values = values_with_server(&[], server);
        let mut f = FamilySet::new(Naming::AsGiven);
        for (metric, help, value) in &converted {
            f.add(MetricKind::Gauge, metric, help, &labels, &values, *value);
        }
        f.finish(out);
        Ok(())
    }
}

impl Settings {
    /// Reads and converts every setting: `(metric name, HELP, value)`.
    async fn convert_all(&self, cx: &Cx<'_>) -> Result<Vec<(String, String, f64)>, CollectError> {
        let rows = query(cx, SQL, &[]).await?;
        let server = cx.legacy_server();
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let text = |i: usize| row.get::<_, Cell>(i).to_label();
            let (name, setting, unit, short_desc, vartype) =
                (text(0), text(1), text(2), text(3), text(4));
            let (value, suffix) = match convert(&setting, &unit, &vartype) {
                Ok(v) => v,
                Err(why) => {
                    cx.config.settings_skipped.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(setting = %name, unit = %unit, reason = why, "Skipping setting");
                    continue;
                }
            };
            let mut metric = format!("pg_settings_{}", name.replace(['.', '-'], "_"));
            let mut help = match server {
                Some(_) => short_desc,
                None => format!("Server Parameter: {name}"),
            };
            if !suffix.is_empty() {
                metric.push('_');
                metric.push_str(suffix);
                help.push_str(&format!(" [Units converted to {suffix}.]"));
            }
            if !metric
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                cx.config.settings_skipped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(setting = %name, reason = "name cannot be a metric name", "Skipping setting");
                continue;
            }
            out.push((metric, help, value));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_postgres_15_and_later_uses() {
        let cases = [
            ("100", "ms", 0.1, "seconds"),
            ("30", "s", 30.0, "seconds"),
            ("5", "min", 300.0, "seconds"),
            ("2", "h", 7200.0, "seconds"),
            ("1", "d", 86400.0, "seconds"),
            ("512", "B", 512.0, "bytes"),
            ("4096", "kB", 4096.0 * 1024.0, "bytes"),
            ("128", "MB", 128.0 * 1048576.0, "bytes"),
            ("1", "GB", 1073741824.0, "bytes"),
            ("1", "TB", 1099511627776.0, "bytes"),
            ("16384", "8kB", 16384.0 * 8192.0, "bytes"),
            ("2", "16kB", 32768.0, "bytes"),
            ("2", "32kB", 65536.0, "bytes"),
            ("2", "64kB", 131072.0, "bytes"),
            ("64", "16MB", 64.0 * 16.0 * 1048576.0, "bytes"),
            ("1", "32MB", 33554432.0, "bytes"),
            ("1", "64MB", 67108864.0, "bytes"),
            ("-1", "kB", -1.0, "bytes"),
            ("-1", "ms", -1.0, "seconds"),
            ("0.5", "", 0.5, ""),
            ("128MB", "MB", 128.0 * 1048576.0, "bytes"),
        ];
        for (setting, unit, want, suffix) in cases {
            let (v, s) = convert(setting, unit, "integer").unwrap();
            assert_eq!((v, s), (want, suffix), "{setting} {unit}");
        }
        assert_eq!(convert("on", "", "bool").unwrap(), (1.0, ""));
        assert_eq!(convert("off", "", "bool").unwrap(), (0.0, ""));
    }

    #[test]
    fn unknown_units_and_values_are_skipped_not_fatal() {
        assert_eq!(convert("1", "furlongs", "integer"), Err("unknown unit"));
        assert_eq!(convert("1", "8XB", "integer"), Err("unknown unit"));
        assert_eq!(convert("1", "0kB", "integer"), Err("unknown unit"));
        assert_eq!(
            convert("lots", "kB", "integer"),
            Err("value is not a number")
        );
    }
}
