//! HTTP basic auth against the web config's bcrypt hashes.
//!
//! As in the exporter-toolkit:
//! - a request without (parsable) credentials is refused without running bcrypt;
//! - an unknown user costs one bcrypt run at the configured hashes' cost (the highest, when
//!   they differ), so a wrong user name takes as long as a wrong password and user names
//!   cannot be probed by timing (a fixed decoy hash of cost 10 answered a wrong user four
//!   times faster than a wrong password against a cost-12 hash);
//! - bcrypt runs one at a time (it is deliberately expensive).
//!
//! bcrypt runs on a thread of its own, never on the blocking pool the collectors use, with a
//! bounded queue in front of it: a check that finds the queue full is refused at once
//! ([`Verdict::Busy`], answered 429), so a flood of wrong passwords costs one core at most and
//! never delays a scrape whose credentials are cached.
//!
//! Successful checks are cached, keyed by a SHA-256 digest of (user, stored hash, password),
//! so a scraper that sends the same credentials every 15 s pays bcrypt once, the password is
//! not kept in memory, and changing a user's hash in the file invalidates the entry. Failures
//! are not cached: every wrong guess costs a full bcrypt run.

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use base64::Engine as _;
use http::HeaderValue;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

/// Cached successes kept at most (then the cache starts over).
const CACHE_LIMIT: usize = 256;

/// Checks waiting for the bcrypt thread at most; more are refused with [`Verdict::Busy`].
pub(crate) const QUEUE_LIMIT: usize = 8;

/// The cost of the toolkit's decoy hash, used when no configured hash can be read.
const DEFAULT_COST: u32 = bcrypt::DEFAULT_COST;

/// What a check decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A configured user with the right password.
    Allowed,
    /// No, wrong or unknown credentials.
    Denied,
    /// Too many checks waiting for bcrypt: refused without checking.
    Busy,
}

/// One bcrypt run for the worker: verify `password` against `hash`, or, for an unknown user
/// (`hash` None), hash it at `cost` and throw the result away.
struct Job {
    password: String,
    hash: Option<String>,
    cost: u32,
    reply: oneshot::Sender<bool>,
}

/// Checks credentials; shared by all connections of a server.
#[derive(Debug, Default)]
pub(crate) struct BasicAuth {
    cache: Mutex<HashSet<[u8; 32]>>,
    /// The bcrypt thread's queue, started at the first check that needs it.
    worker: OnceLock<Option<SyncSender<Job>>>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("cost", &self.cost)
            .finish_non_exhaustive()
    }
}

/// `user:password` from an `Authorization: Basic ...` header.
pub(crate) fn credentials(header: Option<&HeaderValue>) -> Option<(String, String)> {
    let value = header?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn cache_key(user: &str, hash: &str, password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in [user, hash, password] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

/// The bcrypt cost an unknown user is charged: the highest among the configured hashes.
pub(crate) fn decoy_cost(users: &BTreeMap<String, String>) -> u32 {
    users
        .values()
        .filter_map(|h| bcrypt::HashParts::from_str(h).ok())
        .map(|p| p.get_cost())
        .max()
        .unwrap_or(DEFAULT_COST)
}

/// A fixed salt for the decoy run: its result is never compared with anything.
const DECOY_SALT: [u8; 16] = *b"aiplatform-decoy";

fn run(job: Job) {
    // A client that went away does not get its check run.
    if job.reply.is_closed() {
        return;
    }
    let ok = match &job.hash {
        Some(hash) => bcrypt::verify(job.password.as_bytes(), hash).unwrap_or(false),
        None => {
            // The same work as `verify`: one hash at the cost, then nothing to match.
            let _ = bcrypt::hash_with_salt(job.password.as_bytes(), job.cost, DECOY_SALT);
            false
        }
    };
    let _ = job.reply.send(ok);
}

fn start_worker() -> Option<SyncSender<Job>> {
    let (tx, rx): (SyncSender<Job>, Receiver<Job>) = sync_channel(QUEUE_LIMIT);
    let spawned = std::thread::Builder::new()
        .name("bcrypt".into())
        .stack_size(256 << 10)
        .spawn(move || {
            // Ends when the server (the sender's owner) is dropped.
            while let Ok(job) = rx.recv() {
                run(job);
            }
        });
    match spawned {
        Ok(_) => Some(tx),
        Err(e) => {
            tracing::error!(err = %e, "cannot start the bcrypt thread; refusing authentication");
            None
        }
    }
}

impl BasicAuth {
    /// Whether the request's `Authorization` header names a configured user with the right
    /// password, or whether too many checks are already waiting.
    pub(crate) async fn check(
        &self,
        users: &BTreeMap<String, String>,
        header: Option<&HeaderValue>,
    ) -> Verdict {
        let Some((user, password)) = credentials(header) else {
            return Verdict::Denied;
        };
        let hash = users.get(&user).cloned();
        if let Some(hash) = &hash
            && self
                .cache
                .lock()
                .contains(&cache_key(&user, hash, &password))
        {
            return Verdict::Allowed;
        }
        let Some(worker) = self.worker.get_or_init(start_worker) else {
            return Verdict::Denied;
        };
        let (reply, answer) = oneshot::channel();
        let job = Job {
            password: password.clone(),
            hash: hash.clone(),
            cost: decoy_cost(users),
            reply,
        };
        match worker.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Verdict::Busy,
            Err(TrySendError::Disconnected(_)) => return Verdict::Denied,
        }
        let verified = answer.await.unwrap_or(false);
        match hash {
            Some(hash) if verified => {
                let mut cache = self.cache.lock();
                if cache.len() >= CACHE_LIMIT {
                    cache.clear();
                }
                cache.insert(cache_key(&user, &hash, &password));
                Verdict::Allowed
            }
            _ => Verdict::Denied,
        }
    }

    #[cfg(test)]
    fn cached(&self) -> usize {
        self.cache.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    fn basic(user: &str, password: &str) -> HeaderValue {
        let enc = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        header(&format!("Basic {enc}"))
    }

    #[test]
    fn parses_credentials() {
        assert_eq!(
            credentials(Some(&basic("alice", "p:w"))),
            Some(("alice".into(), "p:w".into()))
        );
        assert_eq!(
            credentials(Some(&header("basic YWxpY2U6cHc="))),
            Some(("alice".into(), "pw".into()))
        );
        for bad in ["Bearer abc", "Basic !!!", "Basic YWxpY2U=", "Basic"] {
            assert_eq!(credentials(Some(&header(bad))), None, "{bad}");
        }
        assert_eq!(credentials(None), None);
    }

    proptest::proptest! {
        #[test]
        fn credentials_never_panic(s in "\\PC{0,80}") {
            if let Ok(v) = HeaderValue::from_str(&s) {
                let _ = credentials(Some(&v));
            }
        }

        #[test]
        fn credentials_round_trip(user in "[^:\\x00-\\x1f]{0,20}", password in "\\PC{0,20}") {
            let got = credentials(Some(&basic(&user, &password)));
            proptest::prop_assert_eq!(got, Some((user, password)));
        }
    }

    #[test]
    fn cache_key_separates_fields() {
        assert_ne!(cache_key("ab", "c", "d"), cache_key("a", "bc", "d"));
        assert_ne!(cache_key("a", "h1", "p"), cache_key("a", "h2", "p"));
    }

    #[tokio::test]
    async fn verifies_and_caches_only_successes() {
        let hash = bcrypt::hash("secret", 4).unwrap();
        let users = BTreeMap::from([("alice".to_owned(), hash)]);
        let auth = BasicAuth::default();
        let denied = Verdict::Denied;
        assert_eq!(
            auth.check(&users, Some(&basic("alice", "wrong"))).await,
            denied
        );
        assert_eq!(
            auth.check(&users, Some(&basic("mallory", "secret"))).await,
            denied
        );
        assert_eq!(auth.check(&users, None).await, denied);
        assert_eq!(auth.cached(), 0);
        let allowed = Verdict::Allowed;
        assert_eq!(
            auth.check(&users, Some(&basic("alice", "secret"))).await,
            allowed
        );
        assert_eq!(auth.cached(), 1);
        assert_eq!(
            auth.check(&users, Some(&basic("alice", "secret"))).await,
            allowed
        );
        // A new hash for the user (file edited) does not match the cached entry.
        let users = BTreeMap::from([("alice".to_owned(), bcrypt::hash("other", 4).unwrap())]);
        assert_eq!(
            auth.check(&users, Some(&basic("alice", "secret"))).await,
            denied
        );
    }

    #[test]
    fn decoy_costs_what_the_configured_hashes_cost() {
        let users = |costs: &[u32]| -> BTreeMap<String, String> {
            costs
                .iter()
                .enumerate()
                .map(|(i, c)| (format!("u{i}"), bcrypt::hash("x", *c).unwrap()))
                .collect()
        };
        assert_eq!(decoy_cost(&users(&[5])), 5);
        assert_eq!(decoy_cost(&users(&[4, 6])), 6);
        assert_eq!(decoy_cost(&BTreeMap::new()), DEFAULT_COST);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_at_once() {
        // Cost 12: each check holds the bcrypt thread long enough for the queue to fill.
        let users = BTreeMap::from([("alice".to_owned(), bcrypt::hash("secret", 12).unwrap())]);
        let auth = std::sync::Arc::new(BasicAuth::default());
        let mut checks = Vec::new();
        for _ in 0..QUEUE_LIMIT + 4 {
            let (auth, users) = (auth.clone(), users.clone());
            checks.push(tokio::spawn(async move {
                let start = std::time::Instant::now();
                let v = auth.check(&users, Some(&basic("alice", "wrong"))).await;
                (v, start.elapsed())
            }));
        }
        // The refusals come back at once; the queued checks are dropped unanswered (the
        // worker skips a check whose client is gone).
        let mut busy = 0;
        for c in checks {
            if let Ok(Ok((Verdict::Busy, took))) =
                tokio::time::timeout(std::time::Duration::from_millis(500), c).await
            {
                busy += 1;
                assert!(took < std::time::Duration::from_millis(500), "{took:?}");
            }
        }
        assert!(busy >= 2, "{busy} refused");
    }
}
