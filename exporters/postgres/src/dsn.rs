//! Data source names: the URI and `key=value` forms libpq and lib/pq accept, resolved from the
//! environment as postgres_exporter does, parsed into a [`Dsn`] that never prints its password.

use std::fmt;
use std::time::Duration;

use thiserror::Error;

use crate::redact::{REDACTED, redact_dsn};

/// A password that shows as [`REDACTED`] in `Debug` and `Display`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(s: impl Into<String>) -> Password {
        Password(s.into())
    }

    /// The password itself, for the connection and for scrubbing messages only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Why a data source name could not be used. Messages never contain the password, nor the
/// value of any parameter (a malformed password could be mistaken for anything).
#[derive(Debug, Error, Clone)]
#[non_exhaustive]
pub enum DsnError {
    /// No data source was configured.
    #[error(
        "no data source: set DATA_SOURCE_NAME, or DATA_SOURCE_URI (with DATA_SOURCE_USER and DATA_SOURCE_PASS), or their _FILE forms"
    )]
    Missing,
    /// A `key=value` item has no `=`.
    #[error("malformed data source name: expected key=value at item {0}")]
    MalformedPair(usize),
    /// A quoted value is not closed.
    #[error("malformed data source name: unterminated quoted value for {0:?}")]
    Unterminated(String),
    /// A parameter is not supported.
    #[error("unsupported data source parameter {0:?}")]
    UnknownParameter(String),
    /// A parameter has a value that cannot be used (the value is not shown).
    #[error("invalid value for data source parameter {0:?}")]
    InvalidValue(String),
    /// A `%` escape is malformed.
    #[error("malformed percent-encoding in the {0} of the data source URI")]
    BadEscape(&'static str),
    /// `sslmode` asks for TLS, which this build does not speak to PostgreSQL.
    #[error(
        "sslmode={0} needs TLS to PostgreSQL, which this exporter does not support; use sslmode=disable or prefer (e.g. over a local socket or an stunnel)"
    )]
    TlsUnsupported(String),
    /// A `_FILE` variable names a file that cannot be read.
    #[error("cannot read {var} file {path}: {source}")]
    File {
        /// The variable.
        var: &'static str,
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::sync::Arc<std::io::Error>,
    },
}

/// A parsed connection target. `Debug` shows the redacted form.
#[derive(Clone, PartialEq, Eq)]
pub struct Dsn {
    /// Hosts (names, addresses, or socket directories starting with `/`).
    pub hosts: Vec<String>,
    /// Ports, one per host or one for all.
    pub ports: Vec<u16>,
    /// User name.
    pub user: Option<String>,
    /// Password.
    pub password: Password,
    /// Database.
    pub dbname: Option<String>,
    /// `connect_timeout`, if given.
    pub connect_timeout: Option<Duration>,
    /// `application_name`, if given.
    pub application_name: Option<String>,
    /// `options` (server command-line options), if given.
    pub options: Option<String>,
    /// `sslmode` as given (`disable`, `allow` and `prefer` connect without TLS).
    pub sslmode: Option<String>,
    /// `target_session_attrs`, if given.
    pub target_session_attrs: Option<String>,
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Dsn {
    /// Parses a URI (`postgresql://` or `postgres://`) or `key=value` data source name.
    pub fn parse(s: &str) -> Result<Dsn, DsnError> {
        let trimmed = s.trim();
        let lower = trimmed.to_ascii_lowercase();
        let pairs = if lower.starts_with("postgresql://") || lower.starts_with("postgres://") {
            uri_pairs(trimmed)?
        } else {
            key_value_pairs(trimmed)?
        };
        let mut dsn = Dsn {
            hosts: Vec::new(),
            ports: Vec::new(),
            user: None,
            password: Password::default(),
            dbname: None,
            connect_timeout: None,
            application_name: None,
            options: None,
            sslmode: None,
            target_session_attrs: None,
        };
        for (key, value) in pairs {
            dsn.set(&key, value)?;
        }
        if let Some(mode) = &dsn.sslmode {
            match mode.as_str() {
                "disable" | "allow" | "prefer" => {}
                "require" | "verify-ca" | "verify-full" => {
                    return Err(DsnError::TlsUnsupported(mode.clone()));
                }
                _ => return Err(DsnError::InvalidValue("sslmode".into())),
            }
        }
        Ok(dsn)
    }

    fn set(&mut self, key: &str, value: String) -> Result<(), DsnError> {
        let invalid = || DsnError::InvalidValue(key.to_owned());
        match key {
            "host" | "hostaddr" => {
                if !value.is_empty() {
                    self.hosts = value.split(',').map(str::to_owned).collect();
                }
            }
            "port" => {
                if !value.is_empty() {
                    self.ports = value
                        .split(',')
                        .map(|p| p.parse::<u16>().map_err(|_| invalid()))
                        .collect::<Result<_, _>>()?;
                }
            }
            "user" => self.user = Some(value).filter(|v| !v.is_empty()),
            "password" => self.password = Password(value),
            "dbname" => self.dbname = Some(value).filter(|v| !v.is_empty()),
            "connect_timeout" => {
                let secs: u64 = value.trim().parse().map_err(|_| invalid())?;
                self.connect_timeout = (secs > 0).then(|| Duration::from_secs(secs));
            }
            "application_name" | "fallback_application_name" => {
                if key == "application_name" || self.application_name.is_none() {
                    self.application_name = Some(value);
                }
            }
            "options" => self.options = Some(value),
            "sslmode" => self.sslmode = Some(value),
            "target_session_attrs" => self.target_session_attrs = Some(value),
            // Accepted and ignored, as lib/pq does: TLS files are only used with TLS.
            "sslcert"
            | "sslkey"
            | "sslrootcert"
            | "sslcrl"
            | "sslsni"
            | "keepalives"
            | "keepalives_idle"
            | "keepalives_interval"
            | "keepalives_count" => {}
            other => return Err(DsnError::UnknownParameter(other.to_owned())),
        }
        Ok(())
    }

    /// `host:port` of the first host, with libpq's defaults (`localhost`, 5432): the
    /// `server` label postgres_exporter 0.11 puts on its series.
    pub fn server_label(&self) -> String {
        let host = self.hosts.first().map_or("localhost", String::as_str);
        let port = self.ports.first().copied().unwrap_or(5432);
        format!("{host}:{port}")
    }

    /// The data source as a URI with the password replaced: safe to log.
    pub fn redacted(&self) -> String {
        let mut s = String::from("postgresql://");
        if let Some(user) = &self.user {
            s.push_str(&percent_encode(user));
            if !self.password.is_empty() {
                s.push(':');
                s.push_str(REDACTED);
            }
            s.push('@');
        }
        let hosts: Vec<String> = self
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| match self.ports.get(i).or(self.ports.first()) {
                Some(p) if !h.starts_with('/') => format!("{}:{p}", percent_encode(h)),
                _ => percent_encode(h),
            })
            .collect();
        s.push_str(&hosts.join(","));
        s.push('/');
        if let Some(db) = &self.dbname {
            s.push_str(&percent_encode(db));
        }
        // Belt and braces: nothing above can hold the password, but the function that
        // guards every other path guards this one too.
        redact_dsn(&s).into_owned()
    }

    /// The tokio-postgres configuration (holds the password; never log it).
    pub fn to_config(&self) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        if self.hosts.is_empty() {
            c.host("localhost");
        }
        for h in &self.hosts {
            if h.starts_with('/') {
                c.host_path(h);
            } else {
                c.host(h);
            }
        }
        for p in &self.ports {
            c.port(*p);
        }
        c.user(self.user.as_deref().unwrap_or("postgres"));
        if !self.password.is_empty() {
            c.password(self.password.expose());
        }
        if let Some(db) = &self.dbname {
            c.dbname(db);
        }
        if let Some(t) = self.connect_timeout {
            c.connect_timeout(t);
        }
        c.application_name(
            self.application_name
                .as_deref()
                .unwrap_or("aiplatform-postgres-exporter"),
        );
        if let Some(o) = &self.options {
            c.options(o);
        }
        if self.target_session_attrs.as_deref() == Some("read-write") {
            c.target_session_attrs(tokio_postgres::config::TargetSessionAttrs::ReadWrite);
        }
        c.ssl_mode(tokio_postgres::config::SslMode::Disable);
        c
    }
}

/// Splits a `key=value` DSN into pairs, libpq-style: blanks around `=`, single-quoted values
/// with `\` escapes.
fn key_value_pairs(s: &str) -> Result<Vec<(String, String)>, DsnError> {
    let mut pairs = Vec::new();
    let mut chars = s.chars().peekable();
    let mut item = 0;
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        item += 1;
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') || key.is_empty() {
            return Err(DsnError::MalformedPair(item));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '\'' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(DsnError::Unterminated(key));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Splits a `postgresql://user:password@host:port,host2/db?k=v` URI into the same pairs.
fn uri_pairs(s: &str) -> Result<Vec<(String, String)>, DsnError> {
    let rest = &s[s.find("://").map_or(0, |i| i + 3)..];
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    // User info ends at the last '@' (a password may hold '@' unescaped, as lib/pq allows).
    let (userinfo, hostpath) = match before_query.rfind('@') {
        Some(at) => (Some(&before_query[..at]), &before_query[at + 1..]),
        None => (None, before_query),
    };
    let (hostlist, path) = hostpath.split_once('/').unwrap_or((hostpath, ""));
    let mut pairs = Vec::new();
    if let Some(ui) = userinfo {
        let (u, p) = ui.split_once(':').map_or((ui, None), |(u, p)| (u, Some(p)));
        pairs.push(("user".into(), percent_decode(u, "user name")?));
        if let Some(p) = p {
            pairs.push(("password".into(), percent_decode(p, "password")?));
        }
    }
    let mut hosts = Vec::new();
    let mut ports = Vec::new();
    for hp in hostlist.split(',').filter(|h| !h.is_empty()) {
        let (h, p) = if let Some(v6) = hp.strip_prefix('[') {
            let (addr, after) = v6
                .split_once(']')
                .ok_or(DsnError::InvalidValue("host".into()))?;
            (addr.to_owned(), after.strip_prefix(':').map(str::to_owned))
        } else {
            match hp.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p.to_owned())),
                None => (hp.to_owned(), None),
            }
        };
        hosts.push(percent_decode(&h, "host")?);
        if let Some(p) = p {
            ports.push(p);
        }
    }
    if !hosts.is_empty() {
        pairs.push(("host".into(), hosts.join(",")));
    }
    if !ports.is_empty() {
        pairs.push(("port".into(), ports.join(",")));
    }
    if !path.is_empty() {
        pairs.push(("dbname".into(), percent_decode(path, "database name")?));
    }
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let key = percent_decode(k, "query")?;
        let value = percent_decode(&v.replace('+', " "), "query")?;
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Decodes `%XX` escapes.
fn percent_decode(s: &str, part: &'static str) -> Result<String, DsnError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(DsnError::BadEscape(part))?;
            let hex = std::str::from_utf8(hex).map_err(|_| DsnError::BadEscape(part))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| DsnError::BadEscape(part))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| DsnError::BadEscape(part))
}

/// Escapes everything but unreserved URI characters.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where the environment says to connect: postgres_exporter's rules.
///
/// `DATA_SOURCE_NAME` (a comma-separated list) wins; otherwise `DATA_SOURCE_URI` (host, port,
/// database and parameters, without scheme) with `DATA_SOURCE_USER` and `DATA_SOURCE_PASS`,
/// each of which may instead name a file through its `_FILE` variable (contents trimmed).
pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Vec<Dsn>, DsnError> {
    let read = |var: &'static str| -> Result<Option<String>, DsnError> {
        let file_var = match var {
            "DATA_SOURCE_URI" => "DATA_SOURCE_URI_FILE",
            "DATA_SOURCE_USER" => "DATA_SOURCE_USER_FILE",
            "DATA_SOURCE_PASS" => "DATA_SOURCE_PASS_FILE",
            _ => "DATA_SOURCE_NAME_FILE",
        };
        if let Some(path) = get(file_var).filter(|p| !p.is_empty()) {
            let text = std::fs::read_to_string(&path).map_err(|e| DsnError::File {
                var: file_var,
                path: path.clone(),
                source: std::sync::Arc::new(e),
            })?;
            return Ok(Some(text.trim().to_owned()));
        }
        Ok(get(var).filter(|v| !v.is_empty()))
    };
    if let Some(names) = read("DATA_SOURCE_NAME")? {
        return split_list(&names).iter().map(|s| Dsn::parse(s)).collect();
    }
    let Some(uri) = read("DATA_SOURCE_URI")? else {
        return Err(DsnError::Missing);
    };
    let user = read("DATA_SOURCE_USER")?.unwrap_or_default();
    let pass = read("DATA_SOURCE_PASS")?.unwrap_or_default();
    let mut dsn = Dsn::parse(&format!("postgresql://{uri}"))?;
    // Set directly rather than through the URI, so that no escaping rule can split them.
    if !user.is_empty() {
        dsn.user = Some(user);
    }
    if !pass.is_empty() {
        dsn.password = Password(pass);
    }
    Ok(vec![dsn])
}

/// Splits a comma-separated `DATA_SOURCE_NAME`: a comma starts a new entry only where a URI
/// scheme or a `key=value` pair follows, so commas inside passwords and host lists survive.
fn split_list(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for part in s.split(',') {
        let lower = part.trim_start().to_ascii_lowercase();
        let starts_entry = lower.starts_with("postgresql://")
            || lower.starts_with("postgres://")
            || looks_like_kv(&lower);
        if !current.is_empty() && starts_entry {
            out.push(std::mem::take(&mut current));
        } else if !current.is_empty() {
            current.push(',');
        }
        current.push_str(part);
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

fn looks_like_kv(s: &str) -> bool {
    [
        "host=",
        "user=",
        "dbname=",
        "port=",
        "password=",
        "sslmode=",
    ]
    .iter()
    .any(|k| s.starts_with(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_is_parsed() {
        let d = Dsn::parse(
            "postgresql://mon:p%40ss@db.example:6432/app?sslmode=disable&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(d.hosts, ["db.example"]);
        assert_eq!(d.ports, [6432]);
        assert_eq!(d.user.as_deref(), Some("mon"));
        assert_eq!(d.password.expose(), "p@ss");
        assert_eq!(d.dbname.as_deref(), Some("app"));
        assert_eq!(d.connect_timeout, Some(Duration::from_secs(3)));
        assert_eq!(d.server_label(), "db.example:6432");
        assert_eq!(d.redacted(), "postgresql://mon:xxxxx@db.example:6432/app");
        assert_eq!(format!("{d:?}"), d.redacted());
    }

    #[test]
    fn password_with_at_sign_unescaped() {
        let d = Dsn::parse("postgres://u:a@b@h/db").unwrap();
        assert_eq!(d.password.expose(), "a@b");
        assert_eq!(d.hosts, ["h"]);
    }

    #[test]
    fn query_password_and_host() {
        let d = Dsn::parse("postgresql:///db?host=/run/postgresql&password=pw&user=u").unwrap();
        assert_eq!(d.hosts, ["/run/postgresql"]);
        assert_eq!(d.password.expose(), "pw");
        assert_eq!(d.server_label(), "/run/postgresql:5432");
    }

    #[test]
    fn key_value_is_parsed() {
        let d = Dsn::parse(
            "host=127.0.0.1 port=5433 user=u password='a \\'b\\' c' dbname=x sslmode=disable",
        )
        .unwrap();
        assert_eq!(d.password.expose(), "a 'b' c");
        assert_eq!(d.server_label(), "127.0.0.1:5433");
        let d = Dsn::parse("user = u password = pw").unwrap();
        assert_eq!(d.password.expose(), "pw");
        assert_eq!(d.server_label(), "localhost:5432");
    }

    #[test]
    fn errors_never_show_values() {
        for bad in [
            "host=h password='secretvalue",
            "host=h secretvalue",
            "host=h port=secretvalue",
            "postgresql://u:secretvalue@h/db?bogus=secretvalue",
            "postgresql://u:secret%ZZvalue@h/db",
        ] {
            let err = Dsn::parse(bad).unwrap_err().to_string();
            assert!(!err.contains("secretvalue"), "{bad}: {err}");
            assert!(!err.contains("secret"), "{bad}: {err}");
        }
        assert!(matches!(
            Dsn::parse("postgresql://h/db?sslmode=require"),
            Err(DsnError::TlsUnsupported(_))
        ));
    }

    #[test]
    fn debug_of_password_is_redacted() {
        let p = Password::new("hunter2");
        assert_eq!(format!("{p:?} {p}"), "xxxxx xxxxx");
    }

    #[test]
    fn environment_rules() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let d = from_env(env(&[(
            "DATA_SOURCE_NAME",
            "postgresql://a@h1/x,host=h2 user=b",
        )]))
        .unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[1].server_label(), "h2:5432");
        let d = from_env(env(&[
            ("DATA_SOURCE_URI", "db:5433/app?sslmode=disable"),
            ("DATA_SOURCE_USER", "mon"),
            ("DATA_SOURCE_PASS", "p:w@/d"),
        ]))
        .unwrap();
        assert_eq!(d[0].password.expose(), "p:w@/d");
        assert_eq!(d[0].user.as_deref(), Some("mon"));
        assert_eq!(d[0].server_label(), "db:5433");
        assert!(matches!(from_env(env(&[])), Err(DsnError::Missing)));
    }

    #[test]
    fn file_variables_are_read_and_trimmed() {
        let dir = std::env::temp_dir().join(format!("pgexp-dsn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pass = dir.join("pass");
        std::fs::write(&pass, "from-file\n").unwrap();
        let pass_s = pass.to_string_lossy().into_owned();
        let get = |k: &str| match k {
            "DATA_SOURCE_URI" => Some("h/db".to_owned()),
            "DATA_SOURCE_USER" => Some("u".to_owned()),
            "DATA_SOURCE_PASS_FILE" => Some(pass_s.clone()),
            _ => None,
        };
        let d = from_env(get).unwrap();
        assert_eq!(d[0].password.expose(), "from-file");
        let missing = |k: &str| {
            (k == "DATA_SOURCE_PASS_FILE")
                .then(|| "/nonexistent/x".to_owned())
                .or_else(|| (k == "DATA_SOURCE_URI").then(|| "h".to_owned()))
        };
        assert!(matches!(from_env(missing), Err(DsnError::File { .. })));
        std::fs::remove_dir_all(&dir).ok();
    }
}
