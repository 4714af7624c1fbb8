//! Credentials: values that are sent to a receiver and shown nowhere else.
//!
//! A [`Secret`] prints as `[redacted]` in `Debug` and `Display`, so a configuration struct that
//! holds one can derive `Debug` safely. A [`SecretSource`] says where the value comes from: a
//! flag, an environment variable, or a file (re-read on every request, so a rotated Kubernetes
//! secret is picked up without a restart). [`Auth`] turns them into request headers.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::error::CredentialError;

/// A credential value: shown as `[redacted]` everywhere but on the wire.
///
/// ```
/// use aiplatform_push::Secret;
///
/// let token = Secret::new("s3cr3t");
/// assert_eq!(format!("{token:?} {token}"), "[redacted] [redacted]");
/// assert_eq!(token.expose(), "s3cr3t");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<str>);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into().into_boxed_str())
    }

    /// The value itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where a credential comes from.
///
/// ```
/// use aiplatform_push::SecretSource;
///
/// let dir = std::env::temp_dir().join(format!("secret-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("token");
/// std::fs::write(&path, "from-a-file\n").unwrap();
/// assert_eq!(SecretSource::file(&path).read().unwrap().expose(), "from-a-file");
/// assert_eq!(SecretSource::value("inline").read().unwrap().expose(), "inline");
/// assert!(SecretSource::env("SURELY_UNSET_VARIABLE_4711").read().is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A value given directly (a flag, a configuration field).
    Value(Secret),
    /// An environment variable, read once when the source is resolved.
    Env(String),
    /// A file whose content (without trailing line breaks) is the value; read on every use.
    File(PathBuf),
}

impl SecretSource {
    /// A value given directly.
    pub fn value(value: impl Into<String>) -> SecretSource {
        SecretSource::Value(Secret::new(value))
    }

    /// The environment variable `name`.
    pub fn env(name: impl Into<String>) -> SecretSource {
        SecretSource::Env(name.into())
    }

    /// The file at `path`.
    pub fn file(path: impl Into<PathBuf>) -> SecretSource {
        SecretSource::File(path.into())
    }

    /// Reads the value now.
    pub fn read(&self) -> Result<Secret, CredentialError> {
        match self {
            SecretSource::Value(s) => Ok(s.clone()),
            SecretSource::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(Secret::new(v)),
                _ => Err(CredentialError::EnvUnset { name: name.clone() }),
            },
            SecretSource::File(path) => read_file(path),
        }
    }

    /// Reads environment variables once (they do not change under a running process), and
    /// keeps files as they are, to be read on every use.
    pub(crate) fn resolve(&self) -> Result<SecretSource, CredentialError> {
        match self {
            SecretSource::Env(_) => Ok(SecretSource::Value(self.read()?)),
            SecretSource::File(path) => {
                read_file(path)?;
                Ok(self.clone())
            }
            SecretSource::Value(_) => Ok(self.clone()),
        }
    }
}

fn read_file(path: &Path) -> Result<Secret, CredentialError> {
    let text = std::fs::read_to_string(path).map_err(|source| CredentialError::File {
        path: path.to_owned(),
        source,
    })?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(CredentialError::EmptyFile {
            path: path.to_owned(),
        });
    }
    Ok(Secret::new(value))
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Value(_) => f.write_str("Value([redacted])"),
            SecretSource::Env(name) => f.debug_tuple("Env").field(name).finish(),
            SecretSource::File(path) => f.debug_tuple("File").field(path).finish(),
        }
    }
}

/// How requests authenticate to a receiver.
///
/// ```
/// use aiplatform_push::{Auth, SecretSource};
///
/// let auth = Auth::basic("writer", SecretSource::value("pw"))
///     .with_header("X-Scope-OrgID", SecretSource::value("tenant-1"))
///     .unwrap();
/// let headers = auth.headers().unwrap();
/// assert_eq!(headers["authorization"], "Basic d3JpdGVyOnB3");
/// assert_eq!(headers["x-scope-orgid"], "tenant-1");
/// assert!(!format!("{auth:?}").contains("pw"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Auth {
    scheme: Option<Scheme>,
    headers: Vec<(HeaderName, SecretSource)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Scheme {
    Basic {
        username: String,
        password: SecretSource,
    },
    Bearer(SecretSource),
}

impl Auth {
    /// No authentication.
    pub fn none() -> Auth {
        Auth::default()
    }

    /// HTTP basic authentication.
    pub fn basic(username: impl Into<String>, password: SecretSource) -> Auth {
        Auth {
            scheme: Some(Scheme::Basic {
                username: username.into(),
                password,
            }),
            headers: Vec::new(),
        }
    }

    /// A bearer token (`Authorization: Bearer ...`).
    pub fn bearer(token: SecretSource) -> Auth {
        Auth {
            scheme: Some(Scheme::Bearer(token)),
            headers: Vec::new(),
        }
    }

    /// Adds a header sent with every request (API keys, tenant ids). Its value is treated as
    /// a credential: never logged, never shown.
    pub fn with_header(mut self, name: &str, value: SecretSource) -> Result<Auth, CredentialError> {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            CredentialError::InvalidHeaderName {
                name: name.to_owned(),
            }
        })?;
        self.headers.push((name, value));
        Ok(self)
    }

    /// Whether nothing is configured.
    pub fn is_none(&self) -> bool {
        self.scheme.is_none() && self.headers.is_empty()
    }

    /// Reads environment variables now and checks that files are readable: a missing
    /// credential is a configuration error at start-up, not a failure at the first push.
    pub fn resolve(&self) -> Result<Auth, CredentialError> {
        let scheme = match &self.scheme {
            None => None,
            Some(Scheme::Basic { username, password }) => Some(Scheme::Basic {
                username: username.clone(),
                password: password.resolve()?,
            }),
            Some(Scheme::Bearer(token)) => Some(Scheme::Bearer(token.resolve()?)),
        };
        let headers = self
            .headers
            .iter()
            .map(|(n, v)| Ok((n.clone(), v.resolve()?)))
            .collect::<Result<_, CredentialError>>()?;
        Ok(Auth { scheme, headers })
    }

    /// The headers to send, marked sensitive (hyper and `http` then never print them).
    pub fn headers(&self) -> Result<HeaderMap, CredentialError> {
        let mut out = HeaderMap::new();
        self.write_headers(&mut out)?;
        Ok(out)
    }

    /// Inserts the headers into `out`.
    pub fn write_headers(&self, out: &mut HeaderMap) -> Result<(), CredentialError> {
        match &self.scheme {
            None => {}
            Some(Scheme::Basic { username, password }) => {
                let password = password.read()?;
                let raw = format!("{username}:{}", password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
                out.insert(
                    http::header::AUTHORIZATION,
                    sensitive(&format!("Basic {encoded}"), "authorization")?,
                );
            }
            Some(Scheme::Bearer(token)) => {
                let token = token.read()?;
                out.insert(
                    http::header::AUTHORIZATION,
                    sensitive(&format!("Bearer {}", token.expose()), "authorization")?,
                );
            }
        }
        for (name, value) in &self.headers {
            let value = value.read()?;
            out.insert(name.clone(), sensitive(value.expose(), name.as_str())?);
        }
        Ok(())
    }

    /// Every credential value as it is now, to scrub them from text that came back from a
    /// receiver (an error page may echo a header).
    pub(crate) fn secret_values(&self) -> Vec<Secret> {
        let mut out = Vec::new();
        match &self.scheme {
            None => {}
            Some(Scheme::Basic { username, password }) => {
                if let Ok(p) = password.read() {
                    let raw = format!("{username}:{}", p.expose());
                    out.push(Secret::new(
                        base64::engine::general_purpose::STANDARD.encode(raw),
                    ));
                    out.push(p);
                }
            }
            Some(Scheme::Bearer(token)) => out.extend(token.read().ok()),
        }
        out.extend(self.headers.iter().filter_map(|(_, v)| v.read().ok()));
        out.retain(|s| !s.expose().is_empty());
        out
    }
}

fn sensitive(value: &str, header: &str) -> Result<HeaderValue, CredentialError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| CredentialError::InvalidHeaderValue {
        header: header.to_owned(),
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// Replaces every occurrence of a secret in `text` with `[redacted]`.
pub fn scrub(text: &str, secrets: &[Secret]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        if out.contains(s.expose()) {
            out = out.replace(s.expose(), "[redacted]");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_values() {
        let auth = Auth::bearer(SecretSource::value("tok-123"))
            .with_header("DD-API-KEY", SecretSource::value("key-456"))
            .unwrap();
        let shown = format!("{auth:?} {:?}", auth.headers().unwrap());
        assert!(
            !shown.contains("tok-123") && !shown.contains("key-456"),
            "{shown}"
        );
    }

    #[test]
    fn bearer_and_invalid_values() {
        let h = Auth::bearer(SecretSource::value("abc")).headers().unwrap();
        assert_eq!(h["authorization"], "Bearer abc");
        assert!(h["authorization"].is_sensitive());
        let bad = Auth::bearer(SecretSource::value("a\nb")).headers();
        assert!(matches!(
            bad,
            Err(CredentialError::InvalidHeaderValue { .. })
        ));
        assert!(
            Auth::none()
                .with_header("bad header", SecretSource::value("x"))
                .is_err()
        );
    }

    #[test]
    fn files_are_reread_and_must_not_be_empty() {
        let dir = std::env::temp_dir().join(format!("aipush-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token");
        std::fs::write(&path, "one\n").unwrap();
        let auth = Auth::bearer(SecretSource::file(&path)).resolve().unwrap();
        assert_eq!(auth.headers().unwrap()["authorization"], "Bearer one");
        std::fs::write(&path, "two").unwrap();
        assert_eq!(auth.headers().unwrap()["authorization"], "Bearer two");
        std::fs::write(&path, "\n").unwrap();
        let err = auth.headers().unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn scrubs_echoed_values() {
        let auth = Auth::basic("u", SecretSource::value("pw-789"));
        let secrets = auth.secret_values();
        let echoed = format!("denied: Authorization: Basic {}", secrets[0].expose());
        let cleaned = scrub(&echoed, &secrets);
        assert_eq!(cleaned, "denied: Authorization: Basic [redacted]");
        assert_eq!(
            scrub("pw-789 twice pw-789", &secrets),
            "[redacted] twice [redacted]"
        );
    }
}
