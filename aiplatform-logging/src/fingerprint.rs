//! `event.hash`: a stable fingerprint per event, so a resent line deduplicates downstream.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::encode::{EventView, level_upper};
use crate::record::{Val, write_scalar};

const US: u8 = 0x1f;
const RS: u8 = 0x1e;

/// Which parts of an event make up its `event.hash`. See below.
///
/// # Algorithm (version 1; it will not change without a new version tag)
///
/// `event.hash` is the lower-case hex SHA-256 of these bytes, where `US` is `0x1f` and `RS` is
/// `0x1e`, every string taken *after* redaction:
///
/// ```text
/// "aiplatform-logging/v1" US level US logger US message US
/// { key RS value US }            for each selected field, sorted by key (bytes)
/// [ "@" US timestamp US service.name US host.name US process.pid US event.sequence US ]
/// ```
///
/// `level` is upper case (`INFO`), `logger` is the tracing target, numbers are written in
/// decimal, booleans as `true`/`false`. The last group is present in *per-occurrence* mode (the
/// default): the hash then names this one occurrence of the event, and every resend of the
/// same line carries the same hash. With per-occurrence off, the hash names the *kind* of event
/// (same level, logger, message and selected fields), which groups repeats instead.
///
/// tracing hands a layer the formatted message, not its format string, so the message text
/// stands in for the template; use fields (`info!(user.id = id, "user logged in")`) rather
/// than interpolation for values that vary if you want kinds to group.
///
/// # Deduplicating in Logstash and Elasticsearch
///
/// With per-occurrence hashes, use the hash as the document id; a resend then overwrites the
/// same document instead of adding one:
///
/// ```text
/// filter {
///   # optional: re-hash into @metadata if you prefer Logstash's own digest
///   fingerprint {
///     source => ["[event][hash]"]
///     method => "SHA256"
///     target => "[@metadata][fingerprint]"
///   }
/// }
/// output {
///   elasticsearch {
///     hosts => ["https://es:9200"]
///     document_id => "%{[@metadata][fingerprint]}"   # or "%{[event][hash]}" directly
///   }
/// }
/// ```
///
/// ```
/// use aiplatform_logging::Fingerprint;
///
/// // Hash on level, logger, message and only these fields; one hash per occurrence.
/// let fp = Fingerprint::new().fields(["user.id", "http.request.method"]);
/// # let _ = fp;
/// ```
#[derive(Clone, Debug)]
pub struct Fingerprint {
    fields: Selection,
    per_occurrence: bool,
}

#[derive(Clone, Debug)]
enum Selection {
    All,
    Only(Vec<String>),
}

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint::new()
    }
}

impl Fingerprint {
    /// All fields, per occurrence: a document id for deduplicating resends.
    pub fn new() -> Fingerprint {
        Fingerprint {
            fields: Selection::All,
            per_occurrence: true,
        }
    }

    /// Hash only these fields (by their recorded names), besides level, logger and message.
    pub fn fields<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.fields = Selection::Only(names.into_iter().map(Into::into).collect());
        self
    }

    /// Hash every field (the default).
    pub fn all_fields(mut self) -> Self {
        self.fields = Selection::All;
        self
    }

    /// Whether the hash names one occurrence (default `true`) or the kind of event.
    pub fn per_occurrence(mut self, on: bool) -> Self {
        self.per_occurrence = on;
        self
    }

    /// Computes the hash of an event as lower-case hex.
    pub(crate) fn compute(&self, ev: &EventView<'_>, occ: &Occurrence<'_>, out: &mut [u8; 64]) {
        let rec = ev.rec;
        let mut h = Sha256::new();
        let mut part = |b: &[u8], sep: u8| {
            h.update(b);
            h.update([sep]);
        };
        part(b"aiplatform-logging/v1", US);
        part(level_upper(ev.level).as_bytes(), US);
        part(ev.target.as_bytes(), US);
        part(rec.message().as_bytes(), US);
        let chosen = |k: &str| match &self.fields {
            Selection::All => true,
            Selection::Only(names) => names.iter().any(|n| n == k),
        };
        // Fields in key order, sorted as indices on the stack (events have few fields).
        let mut order = [0u8; 64];
        let mut n = 0;
        for (i, f) in rec.fields.iter().enumerate().take(order.len()) {
            if chosen(f.key) {
                order[n] = i as u8;
                n += 1;
            }
        }
        let order = &mut order[..n];
        order.sort_unstable_by(|&a, &b| rec.fields[a as usize].key.cmp(rec.fields[b as usize].key));
        let mut tmp = String::new();
        for &i in order.iter() {
            let f = &rec.fields[i as usize];
            part(f.key.as_bytes(), RS);
            match f.val {
                Val::Str(..) => part(rec.val_str(f.val).unwrap_or("").as_bytes(), US),
                v => {
                    tmp.clear();
                    let _ = write_scalar(&mut tmp, v);
                    part(tmp.as_bytes(), US);
                }
            }
        }
        if self.per_occurrence {
            part(b"@", US);
            part(ev.timestamp.as_bytes(), US);
            part(occ.service.as_bytes(), US);
            part(occ.host.as_bytes(), US);
            part(itoa::Buffer::new().format(occ.pid).as_bytes(), US);
            part(itoa::Buffer::new().format(ev.sequence).as_bytes(), US);
        }
        let digest = h.finalize();
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, b) in digest.iter().enumerate() {
            out[2 * i] = HEX[(b >> 4) as usize];
            out[2 * i + 1] = HEX[(b & 15) as usize];
        }
    }
}

/// The identity of the emitting process, for per-occurrence hashes.
pub(crate) struct Occurrence<'a> {
    pub(crate) service: &'a str,
    pub(crate) host: &'a str,
    pub(crate) pid: u32,
}

impl fmt::Debug for Occurrence<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Occurrence")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}
