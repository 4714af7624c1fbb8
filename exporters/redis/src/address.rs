//! Redis addresses as redis_exporter takes them: `redis://[user:password@]host[:port][/db]`,
//! `rediss://`, `valkey://`, `unix:///path`, or a bare `host:port`.
//!
//! A parsed [`RedisAddress`] keeps credentials apart, and its `Display` and `Debug` never show
//! the password: only [`RedisAddress::password`] hands it out, to the `AUTH` command.

use std::fmt;

/// Where a Redis listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP host and port (host without brackets).
    Tcp {
        /// Host name or IP address.
        host: String,
        /// Port.
        port: u16,
    },
    /// A Unix socket path.
    Unix(String),
}

/// A parsed address; see the [module docs](self).
#[derive(Clone, PartialEq, Eq)]
pub struct RedisAddress {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Whether the scheme asks for TLS (`rediss://`).
    pub tls: bool,
    /// The database selected after connecting, from the path (`/3`).
    pub db: Option<u32>,
    user: Option<String>,
    password: Option<String>,
    /// `scheme://host:port` (no credentials): the key of the password file.
    key: String,
}

/// An address that cannot be parsed. Holds no part of the input, which may carry a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The scheme is not `redis`, `rediss`, `valkey`, `valkeys` or `unix`.
    #[error("unsupported scheme in redis address")]
    Scheme,
    /// No host.
    #[error("redis address has no host")]
    NoHost,
    /// The port is not a number from 1 to 65535.
    #[error("redis address has an invalid port")]
    Port,
    /// The database path is not a number.
    #[error("redis address has an invalid database number")]
    Db,
}

impl RedisAddress {
    /// Parses an address; a missing scheme means `redis://`.
    pub fn parse(input: &str) -> Result<RedisAddress, AddressError> {
        let input = input.trim();
        let (scheme, rest) = match input.split_once("://") {
            Some((s, r)) => (s.to_ascii_lowercase(), r),
            None => ("redis".to_owned(), input),
        };
        let (scheme, tls) = match scheme.as_str() {
            "redis" | "valkey" => ("redis", false),
            "rediss" | "valkeys" => ("rediss", true),
            "unix" => {
                let path = rest.split('?').next().unwrap_or_default();
                if path.is_empty() {
                    return Err(AddressError::NoHost);
                }
                return Ok(RedisAddress {
                    endpoint: Endpoint::Unix(path.to_owned()),
                    tls: false,
                    db: None,
                    user: None,
                    password: None,
                    key: format!("unix://{path}"),
                });
            }
            _ => return Err(AddressError::Scheme),
        };
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (non_empty(percent_decode(u)), Some(percent_decode(p))),
                None => (non_empty(percent_decode(info)), None),
            },
        };
        let (host, port) = split_host_port(hostport)?;
        let db = match path.trim_matches('/') {
            "" => None,
            d => Some(d.parse().map_err(|_| AddressError::Db)?),
        };
        let shown_host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        Ok(RedisAddress {
            key: format!("{scheme}://{shown_host}:{port}"),
            endpoint: Endpoint::Tcp { host, port },
            tls,
            db,
            user,
            password,
        })
    }

    /// The user name from the address, if any.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The password from the address, if any. Only for `AUTH`.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// `scheme://host:port` without credentials: how the address is logged, labelled and
    /// looked up in the password file.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for RedisAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

impl fmt::Debug for RedisAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAddress")
            .field("key", &self.key)
            .field("db", &self.db)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn split_host_port(hostport: &str) -> Result<(String, u16), AddressError> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or(AddressError::NoHost)?;
        (h, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(AddressError::NoHost);
    }
    let port = match port {
        None | Some("") => 6379,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(AddressError::Port),
            Ok(p) => p,
        },
    };
    Ok((host.to_owned(), port))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_redis_exporter_takes() {
        let a = RedisAddress::parse("redis://localhost:6379").unwrap();
        assert_eq!(
            a.endpoint,
            Endpoint::Tcp {
                host: "localhost".into(),
                port: 6379
            }
        );
        assert_eq!(a.key(), "redis://localhost:6379");
        let a = RedisAddress::parse("10.0.0.1").unwrap();
        assert_eq!(a.key(), "redis://10.0.0.1:6379");
        let a = RedisAddress::parse("rediss://u:p%40ss@[::1]:7000/3").unwrap();
        assert!(a.tls);
        assert_eq!(a.user(), Some("u"));
        assert_eq!(a.password(), Some("p@ss"));
        assert_eq!(a.db, Some(3));
        assert_eq!(a.key(), "rediss://[::1]:7000");
        let a = RedisAddress::parse("valkey://:secret@h").unwrap();
        assert_eq!((a.user(), a.password()), (None, Some("secret")));
        let a = RedisAddress::parse("unix:///run/redis.sock").unwrap();
        assert_eq!(a.endpoint, Endpoint::Unix("/run/redis.sock".into()));
        assert_eq!(RedisAddress::parse("http://x"), Err(AddressError::Scheme));
        assert_eq!(RedisAddress::parse("redis://:1"), Err(AddressError::NoHost));
        assert_eq!(
            RedisAddress::parse("redis://h:99999"),
            Err(AddressError::Port)
        );
        assert_eq!(RedisAddress::parse("redis://h/x"), Err(AddressError::Db));
    }

    #[test]
    fn never_shows_the_password() {
        let a = RedisAddress::parse("redis://admin:hunter2@host:1").unwrap();
        assert!(!a.to_string().contains("hunter2"));
        assert!(!format!("{a:?}").contains("hunter2"));
        let e = RedisAddress::parse("redis://admin:hunter2@host:x").unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_nor_leaks(s in ".{0,64}", pw in "[a-z]{12}") {
            let input = format!("redis://u:{pw}@{s}");
            if let Ok(a) = RedisAddress::parse(&input) {
                proptest::prop_assert!(!a.key().contains(&pw) || s.contains(&pw));
            }
            let _ = RedisAddress::parse(&s);
        }
    }
}
