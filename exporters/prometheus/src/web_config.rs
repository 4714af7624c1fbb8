//! The exporter-toolkit web config file (`--web.config.file`): TLS, HTTP headers, basic auth.
//!
//! The file format is the Prometheus exporter-toolkit's, read strictly: an unknown key is an
//! error naming the file and the key, as `yaml.UnmarshalStrict` does in Go.
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # relative paths are relative to this file
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert
//!   client_ca_file: ca.crt
//!   min_version: TLS12             # TLS12 (default) or TLS13
//! http_server_config:
//!   http2: true                    # offered over TLS by ALPN
//!   headers:
//!     Strict-Transport-Security: max-age=31536000
//! basic_auth_users:
//!   prometheus: $2y$10$...         # bcrypt hashes
//! rate_limit:                      # toolkit 0.11+: requests per interval, with a burst
//!   interval: 1s
//!   burst: 10
//! ```
//!
//! What rustls cannot honour is refused at start-up with a reason rather than silently
//! ignored: `TLS10`/`TLS11`, the CBC cipher suites, `CurveP521`, `client_allowed_sans`, and
//! a verifying `client_auth_type` without a client CA (Go would fall back to the system roots).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use serde::Deserialize;

use crate::error::{ConfigProblem, WebConfigError};
use crate::go_duration::parse_go_duration;

/// A parsed and validated web config file.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WebConfig {
    /// TLS settings; `None` serves plain HTTP.
    pub tls: Option<TlsServerConfig>,
    /// Whether HTTP/2 is offered (over TLS, by ALPN). Default true.
    pub http2: bool,
    /// Headers added to every response (only the names the toolkit allows).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// User name to bcrypt hash; empty means no authentication.
    pub basic_auth_users: BTreeMap<String, String>,
    /// Request rate limit, if configured.
    pub rate_limit: Option<RateLimit>,
}

/// `tls_server_config`, validated.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TlsServerConfig {
    /// The server certificate chain (PEM).
    pub cert: PemSource,
    /// The server private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PemSource,
    /// Whether and how client certificates are asked for and checked.
    pub client_auth: ClientAuthType,
    /// CA certificates that client certificates must chain to.
    pub client_ca: Option<PemSource>,
    /// Lowest protocol version offered.
    pub min_version: TlsVersion,
    /// Highest protocol version offered.
    pub max_version: TlsVersion,
    /// TLS 1.2 cipher suites (Go names), in order; empty means rustls' defaults. As in Go, the
    /// TLS 1.3 suites are always enabled and naming them has no effect.
    pub cipher_suites: Vec<String>,
    /// Whether the server's cipher suite order wins over the client's. Default true.
    pub prefer_server_cipher_suites: bool,
    /// Key exchange groups, in order; empty means rustls' defaults.
    pub curve_preferences: Vec<Curve>,
}

/// Where PEM data comes from: a file (`cert_file`) or the config itself (`cert`).
#[derive(Clone, PartialEq, Eq)]
pub enum PemSource {
    /// A file path, already resolved against the config file's directory.
    File(PathBuf),
    /// PEM text written in the config file.
    Inline(String),
}

impl fmt::Debug for PemSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemSource::File(p) => f.debug_tuple("File").field(p).finish(),
            // Inline PEM may be a private key: never print it.
            PemSource::Inline(_) => f.write_str("Inline(<redacted>)"),
        }
    }
}

/// `client_auth_type`, with the toolkit's (Go's `crypto/tls`) names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClientAuthType {
    /// No client certificate is asked for (default).
    #[default]
    NoClientCert,
    /// A certificate is asked for but neither required nor verified.
    RequestClientCert,
    /// A certificate is required but not verified against a CA (the client must still prove
    /// it holds the key).
    RequireAnyClientCert,
    /// A certificate is optional; one that is sent must chain to the client CA.
    VerifyClientCertIfGiven,
    /// A certificate chaining to the client CA is required.
    RequireAndVerifyClientCert,
}

impl ClientAuthType {
    /// The toolkit's name for this value.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthType::NoClientCert => "NoClientCert",
            ClientAuthType::RequestClientCert => "RequestClientCert",
            ClientAuthType::RequireAnyClientCert => "RequireAnyClientCert",
            ClientAuthType::VerifyClientCertIfGiven => "VerifyClientCertIfGiven",
            ClientAuthType::RequireAndVerifyClientCert => "RequireAndVerifyClientCert",
        }
    }

    /// Whether client certificates are verified against `client_ca_file`.
    pub fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuthType::VerifyClientCertIfGiven | ClientAuthType::RequireAndVerifyClientCert
        )
    }
}

impl fmt::Display for ClientAuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ClientAuthType {
    type Err = ConfigProblem;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "" | "NoClientCert" => ClientAuthType::NoClientCert,
            "RequestClientCert" => ClientAuthType::RequestClientCert,
            // "RequireClientCert" is the toolkit's backwards-compatible alias.
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuthType::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuthType::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuthType::RequireAndVerifyClientCert,
            other => return Err(ConfigProblem::UnknownClientAuth(other.to_owned())),
        })
    }
}

/// A TLS protocol version rustls implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// TLS 1.2 (`TLS12`).
    Tls12,
    /// TLS 1.3 (`TLS13`).
    Tls13,
}

impl TlsVersion {
    fn parse(s: &str) -> Result<TlsVersion, ConfigProblem> {
        match s {
            "TLS12" => Ok(TlsVersion::Tls12),
            "TLS13" => Ok(TlsVersion::Tls13),
            "TLS10" | "TLS11" => Err(ConfigProblem::UnsupportedTlsVersion(s.to_owned())),
            other => Err(ConfigProblem::UnknownTlsVersion(other.to_owned())),
        }
    }
}

/// A key exchange group in `curve_preferences`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    /// `X25519`.
    X25519,
    /// `CurveP256` (secp256r1).
    P256,
    /// `CurveP384` (secp384r1).
    P384,
}

impl Curve {
    fn parse(s: &str) -> Result<Curve, ConfigProblem> {
        match s {
            "X25519" => Ok(Curve::X25519),
            "CurveP256" => Ok(Curve::P256),
            "CurveP384" => Ok(Curve::P384),
            "CurveP521" => Err(ConfigProblem::UnsupportedCurve(s.to_owned())),
            other => Err(ConfigProblem::UnknownCurve(other.to_owned())),
        }
    }
}

/// TLS 1.2 suites Go's `tls.CipherSuites()` lists that the ring provider implements.
pub(crate) const TLS12_SUITES: &[&str] = &[
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
];
/// TLS 1.3 suites: accepted and, as in Go, without effect (always enabled).
const TLS13_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];
/// In Go's secure list but not implemented by rustls.
const CBC_SUITES: &[&str] = &[
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
];

/// `rate_limit`: at most one request per `interval` on average, `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Time to earn one request.
    pub interval: Duration,
    /// Requests allowed at once.
    pub burst: u32,
}

/// Response headers the toolkit lets a config set, with the values allowed (empty: any).
const ALLOWED_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<UserList>,
    rate_limit: Option<RawRateLimit>,
}

/// `basic_auth_users` in file order, duplicates kept (a map would silently keep the last).
#[derive(Default)]
struct UserList(Vec<(String, String)>);

impl<'de> Deserialize<'de> for UserList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<UserList, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = UserList;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of user names to bcrypt hashes")
            }
            fn visit_unit<E>(self) -> Result<UserList, E> {
                Ok(UserList::default())
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<UserList, A::Error> {
                let mut users = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    users.push(entry);
                }
                Ok(UserList(users))
            }
        }
        d.deserialize_map(Visit)
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: Option<String>,
    key_file: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    prefer_server_cipher_suites: Option<bool>,
    client_allowed_sans: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    interval: Option<String>,
    burst: Option<u32>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            tls: None,
            http2: true,
            headers: Vec::new(),
            basic_auth_users: BTreeMap::new(),
            rate_limit: None,
        }
    }
}

impl WebConfig {
    /// Reads and validates a web config file. Relative paths inside it are resolved against
    /// the file's directory, as the toolkit does. Certificates are not read here; the server
    /// reads them when it starts (and again when they change).
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| WebConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let dir = path.parent().unwrap_or(Path::new(""));
        WebConfig::parse(&text, dir).map_err(|e| e.at(path))
    }

    /// Parses and validates config text; relative paths are resolved against `dir`.
    ///
    /// ```
    /// use aiplatform_prometheus::WebConfig;
    /// use std::path::Path;
    ///
    /// let err = WebConfig::parse("tls_server_config:\n  cert_fil: a.crt\n", Path::new("/etc"))
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("unknown field `cert_fil`"), "{err}");
    /// ```
    pub fn parse(text: &str, dir: &Path) -> Result<WebConfig, WebConfigError> {
        let raw: Option<RawConfig> =
            serde_norway::from_str(text).map_err(|source| WebConfigError::Syntax {
                path: PathBuf::from("<text>"),
                source,
            })?;
        let raw = raw.unwrap_or_default();
        let invalid = |key: &str, problem: ConfigProblem| WebConfigError::Invalid {
            path: PathBuf::from("<text>"),
            key: key.to_owned(),
            problem,
        };
        let mut config = WebConfig::default();

        if let Some(http) = raw.http_server_config {
            config.http2 = http.http2.unwrap_or(true);
            for (name, value) in http.headers.unwrap_or_default() {
                let key = format!("http_server_config.headers.{name}");
                config
                    .headers
                    .push(check_header(&name, &value).map_err(|p| invalid(&key, p))?);
            }
        }

        for (user, hash) in raw.basic_auth_users.unwrap_or_default().0 {
            if config.basic_auth_users.contains_key(&user) {
                return Err(invalid(
                    &format!("basic_auth_users.{user}"),
                    ConfigProblem::DuplicateUser(user),
                ));
            }
            if let Err(source) = bcrypt::HashParts::from_str(&hash) {
                return Err(invalid(
                    &format!("basic_auth_users.{user}"),
                    ConfigProblem::BadHash { source },
                ));
            }
            config.basic_auth_users.insert(user, hash);
        }

        if let Some(rl) = raw.rate_limit {
            let interval = match rl.interval.as_deref() {
                None | Some("") => Duration::ZERO,
                Some(s) => parse_go_duration(s).map_err(|_| {
                    invalid("rate_limit.interval", ConfigProblem::BadDuration(s.into()))
                })?,
            };
            // As in the toolkit, a zero interval disables the limiter.
            if !interval.is_zero() {
                config.rate_limit = Some(RateLimit {
                    interval,
                    burst: rl.burst.unwrap_or(0),
                });
            }
        }

        if let Some(tls) = raw.tls_server_config {
            config.tls = parse_tls(tls, dir).map_err(|(key, p)| invalid(key, p))?;
        }
        Ok(config)
    }

    /// Every file the TLS settings read (to notice when they change).
    pub(crate) fn tls_files(&self) -> Vec<&Path> {
        let Some(tls) = &self.tls else {
            return Vec::new();
        };
        [Some(&tls.cert), Some(&tls.key), tls.client_ca.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|s| match s {
                PemSource::File(p) => Some(p.as_path()),
                PemSource::Inline(_) => None,
            })
            .collect()
    }
}

fn check_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), ConfigProblem> {
    let Some((_, allowed)) = ALLOWED_HEADERS.iter().find(|(n, _)| *n == name) else {
        return Err(ConfigProblem::HeaderNotAllowed(name.to_owned()));
    };
    if !allowed.is_empty() && !allowed.contains(&value) {
        return Err(ConfigProblem::HeaderValue {
            allowed,
            got: value.to_owned(),
        });
    }
    let value =
        HeaderValue::from_str(value).map_err(|_| ConfigProblem::HeaderBytes(value.to_owned()))?;
    let name = HeaderName::from_bytes(name.as_bytes()).expect("allowed header names are valid");
    Ok((name, value))
}

type KeyedProblem = (&'static str, ConfigProblem);

fn parse_tls(raw: RawTls, dir: &Path) -> Result<Option<TlsServerConfig>, KeyedProblem> {
    let nonempty = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
    let enabled = [
        &raw.cert_file,
        &raw.cert,
        &raw.key_file,
        &raw.key,
        &raw.client_ca_file,
        &raw.client_ca,
        &raw.client_auth_type,
    ]
    .into_iter()
    .any(nonempty);
    if raw.client_allowed_sans.is_some() {
        return Err((
            "tls_server_config.client_allowed_sans",
            ConfigProblem::NotSupported(
                "matching client certificate SANs is not implemented; use a dedicated client CA",
            ),
        ));
    }
    if !enabled {
        return Ok(None);
    }
    let source = |file: Option<String>, inline: Option<String>| match (file, inline) {
        (Some(f), _) if !f.is_empty() => Some(PemSource::File(dir.join(f))),
        (_, Some(i)) if !i.is_empty() => Some(PemSource::Inline(i)),
        _ => None,
    };
    let cert = source(raw.cert_file, raw.cert).ok_or((
        "tls_server_config",
        ConfigProblem::Missing("one of cert or cert_file"),
    ))?;
    let key = source(raw.key_file, raw.key).ok_or((
        "tls_server_config",
        ConfigProblem::Missing("one of key or key_file"),
    ))?;
    let client_ca = source(raw.client_ca_file, raw.client_ca);
    let client_auth = raw
        .client_auth_type
        .as_deref()
        .unwrap_or("")
        .parse::<ClientAuthType>()
        .map_err(|p| ("tls_server_config.client_auth_type", p))?;
    if client_ca.is_some() && client_auth == ClientAuthType::NoClientCert {
        return Err((
            "tls_server_config.client_auth_type",
            ConfigProblem::ClientCaWithoutClientAuth,
        ));
    }
    if client_ca.is_none() && client_auth.verifies() {
        return Err((
            "tls_server_config.client_ca_file",
            ConfigProblem::ClientCaRequired(client_auth),
        ));
    }
    let version = |key: &'static str, v: Option<String>, default| match v.as_deref() {
        None | Some("") => Ok(default),
        Some(s) => TlsVersion::parse(s).map_err(|p| (key, p)),
    };
    let min_version = version(
        "tls_server_config.min_version",
        raw.min_version,
        TlsVersion::Tls12,
    )?;
    let max_version = version(
        "tls_server_config.max_version",
        raw.max_version,
        TlsVersion::Tls13,
    )?;
    if min_version > max_version {
        return Err(("tls_server_config.min_version", ConfigProblem::VersionRange));
    }
    let mut cipher_suites = Vec::new();
    for name in raw.cipher_suites.unwrap_or_default() {
        if TLS12_SUITES.contains(&name.as_str()) {
            cipher_suites.push(name);
        } else if TLS13_SUITES.contains(&name.as_str()) {
            // Always on, as in Go.
        } else if CBC_SUITES.contains(&name.as_str()) {
            return Err((
                "tls_server_config.cipher_suites",
                ConfigProblem::UnsupportedCipher(name),
            ));
        } else {
            return Err((
                "tls_server_config.cipher_suites",
                ConfigProblem::UnknownCipher(name),
            ));
        }
    }
    let curve_preferences = raw
        .curve_preferences
        .unwrap_or_default()
        .iter()
        .map(|c| Curve::parse(c))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|p| ("tls_server_config.curve_preferences", p))?;
    Ok(Some(TlsServerConfig {
        cert,
        key,
        client_auth,
        client_ca,
        min_version,
        max_version,
        cipher_suites,
        prefer_server_cipher_suites: raw.prefer_server_cipher_suites.unwrap_or(true),
        curve_preferences,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebConfig, WebConfigError> {
        WebConfig::parse(text, Path::new("/etc/exporter"))
    }

    #[test]
    fn empty_and_null_sections_are_defaults() {
        for text in ["", "# nothing\n", "tls_server_config:\nbasic_auth_users:\n"] {
            let c = parse(text).unwrap();
            assert!(
                c.tls.is_none() && c.basic_auth_users.is_empty() && c.http2,
                "{text:?}"
            );
        }
    }

    #[test]
    fn full_tls_section() {
        let c = parse(
            "tls_server_config:\n  cert_file: a.crt\n  key_file: /abs/a.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n  min_version: TLS13\n  cipher_suites: [TLS_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n  prefer_server_cipher_suites: false\n  curve_preferences: [X25519, CurveP256]\nhttp_server_config:\n  http2: false\n",
        )
        .unwrap();
        let tls = c.tls.unwrap();
        assert_eq!(tls.cert, PemSource::File("/etc/exporter/a.crt".into()));
        assert_eq!(tls.key, PemSource::File("/abs/a.key".into()));
        assert_eq!(tls.client_auth, ClientAuthType::RequireAndVerifyClientCert);
        assert_eq!(tls.min_version, TlsVersion::Tls13);
        assert_eq!(tls.max_version, TlsVersion::Tls13);
        assert_eq!(tls.cipher_suites, ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]);
        assert!(!tls.prefer_server_cipher_suites);
        assert_eq!(tls.curve_preferences, [Curve::X25519, Curve::P256]);
        assert!(!c.http2);
    }

    #[test]
    fn refusals_name_the_key() {
        let cases = [
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n",
                "tls_server_config.min_version: TLS10",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA]\n",
                "rustls",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_NOPE]\n",
                "unknown cipher: TLS_NOPE",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [CurveP521]\n",
                "CurveP521",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [Curve9]\n",
                "unknown curve: Curve9",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Sometimes\n",
                "invalid ClientAuth: Sometimes",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: ca\n",
                "client CA's have been configured without a Client Auth Policy",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
                "tls_server_config.client_ca_file",
            ),
            (
                "tls_server_config:\n  cert_file: a\n",
                "missing one of key or key_file",
            ),
            (
                "tls_server_config:\n  key_file: a\n",
                "missing one of cert or cert_file",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: TLS12\n",
                "min_version",
            ),
            (
                "tls_server_config:\n  client_allowed_sans: [a]\n",
                "client_allowed_sans",
            ),
            (
                "http_server_config:\n  headers:\n    Server: x\n",
                "HTTP header \"Server\" can not be configured",
            ),
            (
                "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
                "X-Frame-Options: invalid value",
            ),
            (
                "basic_auth_users:\n  alice: plaintext\n",
                "basic_auth_users.alice",
            ),
            ("rate_limit:\n  interval: soon\n", "rate_limit.interval"),
            (
                "tls_server_config:\n  cert_file: a\n  keyfile: b\n",
                "unknown field `keyfile`",
            ),
            ("basic_auth: {}\n", "unknown field `basic_auth`"),
        ];
        for (text, want) in cases {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn load_names_the_file() {
        let err = WebConfig::load(Path::new("/nonexistent/web.yml")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/web.yml"), "{err}");
        let dir = std::env::temp_dir().join(format!("webcfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("web.yml");
        std::fs::write(&file, "tls_server_config:\n  cert_fil: x\n").unwrap();
        let err = WebConfig::load(&file).unwrap_err().to_string();
        assert!(err.contains(&*file.to_string_lossy()), "{err}");
        assert!(err.contains("cert_fil"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn headers_and_users() {
        let c = parse(
            "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=1\nbasic_auth_users:\n  bob: \"$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\"\n",
        )
        .unwrap();
        assert_eq!(c.headers.len(), 2);
        assert_eq!(c.basic_auth_users.len(), 1);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = parse(&text);
        }

        #[test]
        fn yaml_shaped_noise_never_panics(
            key in "[a-z_]{1,20}",
            value in "[ -~]{0,30}",
            section in proptest::sample::select(vec!["tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"]),
        ) {
            let _ = parse(&format!("{section}:\n  {key}: {value:?}\n"));
        }
    }

    #[test]
    fn inline_pem_is_not_printed() {
        let s = format!(
            "{:?}",
            PemSource::Inline("-----BEGIN PRIVATE KEY-----".into())
        );
        assert!(!s.contains("PRIVATE"));
    }
}
