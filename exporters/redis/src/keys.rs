//! `--check-keys`, `--check-single-keys` and `--count-keys`: key sizes, values and counts,
//! with SCAN bounded by a time budget (redis_exporter's SCAN can hang a scrape on a large
//! keyspace; here it stops at the budget and reports what it found).

use tokio::time::Instant;

use crate::connection::{ConnError, Connection};
use crate::resp::Reply;
use aiplatform_prometheus::family::FamilySet;

/// A database and a key (or pattern).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbKey {
    /// Database number, as text (`"0"`).
    pub db: String,
    /// Key name or glob pattern.
    pub key: String,
}

/// A key list argument that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyArgError {
    /// More than one `=` in an item.
    #[error("invalid key list argument: {0}")]
    Invalid(String),
    /// The database is not a non-negative number.
    #[error("invalid database index for db {0:?}")]
    Db(String),
}

/// Parses `db3=pattern,key,db1=other` (redis_exporter's `parseKeyArg`): items without a db
/// are in db 0; keys are URL-query-unescaped; empty items are skipped.
pub fn parse_key_arg(arg: &str) -> Result<Vec<DbKey>, KeyArgError> {
    let mut keys = Vec::new();
    for item in arg.split(',') {
        if item.is_empty() {
            continue;
        }
        let frags: Vec<&str> = item.split('=').collect();
        let (db, key) = match frags.as_slice() {
            [key] => ("0".to_owned(), query_unescape(key.trim())),
            [db, key] => (db.trim().replace("db", ""), query_unescape(key.trim())),
            _ => return Err(KeyArgError::Invalid(item.to_owned())),
        };
        if db.is_empty() || key.is_empty() {
            continue;
        }
        if db.parse::<u32>().is_err() {
            return Err(KeyArgError::Db(db));
        }
        keys.push(DbKey { db, key });
    }
    Ok(keys)
}

fn query_unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 3 <= b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a key holds glob characters (`?*[]^`), so it is SCANned.
pub fn is_pattern(key: &str) -> bool {
    key.contains(['?', '*', '[', ']', '^'])
}

/// What the key checks of one scrape do.
#[derive(Debug, Clone, Default)]
pub struct KeyChecks {
    /// `--check-keys` (patterns are SCANned).
    pub check_keys: Vec<DbKey>,
    /// `--check-single-keys` (never SCANned).
    pub check_single_keys: Vec<DbKey>,
    /// `--count-keys` (patterns counted by SCAN).
    pub count_keys: Vec<DbKey>,
    /// `--check-keys-batch-size` (SCAN COUNT).
    pub batch_size: u64,
}

impl KeyChecks {
    /// Whether there is anything to do.
    pub fn is_empty(&self) -> bool {
        self.check_keys.is_empty()
            && self.check_single_keys.is_empty()
            && self.count_keys.is_empty()
    }
}

/// Whether the budget ran out (the results are partial).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyOutcome {
    /// A SCAN or key lookup was cut short by the budget.
    pub truncated: bool,
}

async fn select(conn: &mut Connection, db: &str) -> Result<bool, ConnError> {
    Ok(conn.command(&["SELECT", db]).await?.error().is_none())
}

/// SCANs `pattern` until the cursor returns to 0 or `budget` passes; `None` for a SCAN error.
async fn scan(
    conn: &mut Connection,
    pattern: &str,
    batch: u64,
    budget: Instant,
    outcome: &mut KeyOutcome,
) -> Result<Option<Vec<String>>, ConnError> {
    let mut cursor = "0".to_owned();
    let mut keys = Vec::new();
    let count = batch.max(1).to_string();
    loop {
        if Instant::now() >= budget {
            outcome.truncated = true;
            return Ok(Some(keys));
        }
        let reply = conn
            .command(&["SCAN", &cursor, "MATCH", pattern, "COUNT", &count])
            .await?;
        let Some([next, found]) = reply
            .as_array()
            .and_then(|a| <&[Reply; 2]>::try_from(a).ok())
        else {
            return Ok(None);
        };
        if let Some(found) = found.as_array() {
            keys.extend(
                found
                    .iter()
                    .filter_map(|k| k.as_text().map(|t| t.into_owned())),
            );
        }
        cursor = match next.as_text() {
            Some(c) => c.into_owned(),
            None => return Ok(None),
        };
        if cursor == "0" {
            return Ok(Some(keys));
        }
    }
}

/// The size of a key by type; `None` when it does not exist.
async fn key_size(conn: &mut Connection, key: &str) -> Result<Option<f64>, ConnError> {
    let ty = conn.command(&["TYPE", key]).await?;
    let size_cmd = match ty.as_text().as_deref() {
        Some("none") | None => return Ok(None),
        Some("string") => {
            // PFCOUNT succeeds only on HyperLogLogs.
            let r = conn.command(&["PFCOUNT", key]).await?;
            if let Some(n) = r.as_int().filter(|_| r.error().is_none()) {
                return Ok(Some(n as f64));
            }
            "STRLEN"
        }
        Some("list") => "LLEN",
        Some("set") => "SCARD",
        Some("zset") => "ZCARD",
        Some("hash") => "HLEN",
        Some("stream") => "XLEN",
        Some(_) => return Ok(Some(0.0)),
    };
    let r = conn.command(&[size_cmd, key]).await?;
    Ok(Some(r.as_int().map_or(0.0, |n| n as f64)))
}

/// Runs the checks, appending `key_size`, `key_value` and `keys_count`; stops at `budget`.
pub async fn run_key_checks(
    conn: &mut Connection,
    checks: &KeyChecks,
    budget: Instant,
    out: &mut FamilySet,
) -> Result<KeyOutcome, ConnError> {
    let mut outcome = KeyOutcome::default();
    let mut all: Vec<DbKey> = checks.check_single_keys.clone();
    for k in &checks.check_keys {
        if !is_pattern(&k.key) {
            all.push(k.clone());
            continue;
        }
        if !select(conn, &k.db).await? {
            continue;
        }
        if let Some(found) = scan(conn, &k.key, checks.batch_size, budget, &mut outcome).await? {
            all.extend(found.into_iter().map(|key| DbKey {
                db: k.db.clone(),
                key,
            }));
        }
    }
    let labels = ["db", "key"];
    for k in &all {
        if Instant::now() >= budget {
            outcome.truncated = true;
            break;
        }
        if !select(conn, &k.db).await? {
            continue;
        }
        let db = format!("db{}", k.db);
        match key_size(conn, &k.key).await? {
            None => out.gauge(
                "key_size",
                "The length or size of \"key\"",
                &labels,
                &[&db, &k.key],
                0.0,
            ),
            Some(size) => {
                out.gauge(
                    "key_size",
                    "The length or size of \"key\"",
                    &labels,
                    &[&db, &k.key],
                    size,
                );
                let v = conn.command(&["GET", &k.key]).await?;
                if let Some(v) = v.as_text().and_then(|t| t.trim().parse::<f64>().ok()) {
                    out.gauge(
                        "key_value",
                        "The value of \"key\"",
                        &labels,
                        &[&db, &k.key],
                        v,
                    );
                }
            }
        }
    }
    for k in &checks.count_keys {
        if Instant::now() >= budget {
            outcome.truncated = true;
            break;
        }
        if !select(conn, &k.db).await? {
            continue;
        }
        if let Some(found) = scan(conn, &k.key, checks.batch_size, budget, &mut outcome).await? {
            let db = format!("db{}", k.db);
            out.gauge(
                "keys_count",
                "Count of keys",
                &labels,
                &[&db, &k.key],
                found.len() as f64,
            );
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_args_like_redis_exporter() {
        let k = parse_key_arg("db3=user:*,session%3A1,,db1=a+b").unwrap();
        assert_eq!(
            k,
            vec![
                DbKey {
                    db: "3".into(),
                    key: "user:*".into()
                },
                DbKey {
                    db: "0".into(),
                    key: "session:1".into()
                },
                DbKey {
                    db: "1".into(),
                    key: "a b".into()
                },
            ]
        );
        assert!(parse_key_arg("a=b=c").is_err());
        assert!(parse_key_arg("dbx=k").is_err());
        assert_eq!(parse_key_arg("").unwrap(), vec![]);
        assert!(is_pattern("user:*") && !is_pattern("user:1"));
    }
}
