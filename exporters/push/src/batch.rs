//! Encoders, records and batches.
//!
//! A backend's [`Encoder`] writes a collection as **records**: the smallest pieces a request
//! body can be cut into (one remote-write `TimeSeries`, one DogStatsD line, one JSON series
//! object). The [`RecordWriter`] packs records into batches by encoded bytes and by series
//! count; a [`Framing`] puts the protocol's envelope around them (a JSON array, an OTLP
//! `ResourceMetrics`); the batch is then compressed. A batch remembers where its records are,
//! so a receiver's 413 can be answered by cutting it in two, down to a single record, without
//! going back to the registry.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use crate::compress::{Compression, Compressor};
use crate::temporality::Collection;

/// Turns collections into records: the protocol-specific half of a push backend.
///
/// ```
/// use std::sync::Arc;
/// use aiplatform_push::{Collection, Encoder, Framing, PointValue, RecordWriter};
///
/// /// `name value` lines, one per counter series.
/// struct Lines;
///
/// impl Encoder for Lines {
///     fn encode(&mut self, collection: &Collection<'_>, out: &mut RecordWriter<'_>) {
///         for family in collection.families() {
///             for point in family.points() {
///                 if let PointValue::Counter(c) = point.value {
///                     let buf = out.begin();
///                     buf.extend_from_slice(family.family().name().as_bytes());
///                     buf.extend_from_slice(format!(" {}", c.as_f64()).as_bytes());
///                     out.finish(1, 1);
///                 }
///             }
///         }
///     }
///
///     fn framing(&self) -> Arc<dyn Framing> {
///         Arc::new(Separated(b"\n"))
///     }
/// }
///
/// struct Separated(&'static [u8]);
/// impl Framing for Separated {
///     fn separator(&self) -> &[u8] {
///         self.0
///     }
/// }
/// ```
pub trait Encoder: Send + 'static {
    /// Writes every point of `collection` that the protocol carries as records into `out`.
    fn encode(&mut self, collection: &Collection<'_>, out: &mut RecordWriter<'_>);

    /// The envelope around a run of records; asked once, when the pipeline is built.
    fn framing(&self) -> Arc<dyn Framing>;
}

/// The envelope of a request body around its records.
pub trait Framing: Send + Sync + 'static {
    /// Bytes before the first record; `records_len` is the length of what follows up to the
    /// suffix (records and separators), for envelopes that carry a length.
    fn prefix(&self, records_len: usize, out: &mut Vec<u8>) {
        let _ = (records_len, out);
    }

    /// Bytes between two records.
    fn separator(&self) -> &[u8] {
        b""
    }

    /// Bytes after the last record.
    fn suffix(&self, out: &mut Vec<u8>) {
        let _ = out;
    }
}

/// Records back to back, with nothing around them (protobuf repeated fields, delimited
/// streams).
#[derive(Debug, Clone, Copy, Default)]
pub struct Concatenated;

impl Framing for Concatenated {}

/// Where a batch's records are, to cut it in two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordMeta {
    pub(crate) len: u32,
    pub(crate) series: u32,
    pub(crate) samples: u32,
}

/// A compressed request body and what it holds.
#[derive(Debug, Clone)]
pub struct Batch {
    pub(crate) body: Bytes,
    pub(crate) compression: Compression,
    pub(crate) records: Vec<RecordMeta>,
    pub(crate) prefix_len: u32,
    pub(crate) series: u64,
    pub(crate) samples: u64,
    pub(crate) collection: u64,
    pub(crate) first_of_collection: bool,
    pub(crate) created: SystemTime,
}

impl Batch {
    /// The request body, compressed.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// How the body is compressed.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Number of series (records may hold several, or none: metadata).
    pub fn series(&self) -> u64 {
        self.series
    }

    /// Number of samples (values on the wire; a histogram series has several).
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Number of records.
    pub fn records(&self) -> usize {
        self.records.len()
    }

    /// Whether this is the first batch of its collection (the Pushgateway replaces a group
    /// with it, and adds the others to it).
    pub fn is_first_of_collection(&self) -> bool {
        self.first_of_collection
    }

    /// Which collection it came from (increasing).
    pub fn collection(&self) -> u64 {
        self.collection
    }

    /// When it was sealed.
    pub fn created(&self) -> SystemTime {
        self.created
    }

    /// The body, decompressed (to inspect it in tests).
    pub fn uncompressed(&self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.compression.decompress(&self.body, &mut out)?;
        Ok(out)
    }

    /// Memory it holds: the body plus the record table.
    pub fn footprint(&self) -> u64 {
        (self.body.len() + self.records.len() * std::mem::size_of::<RecordMeta>() + 96) as u64
    }
}

/// Limits and shared state for packing records into batches.
pub(crate) struct Batcher {
    framing: Arc<dyn Framing>,
    compressor: Compressor,
    max_bytes: usize,
    max_series: u64,
    /// Records of the batch being filled, back to back.
    raw: Vec<u8>,
    records: Vec<RecordMeta>,
    series: u64,
    samples: u64,
    open_at: Option<usize>,
    framed: Vec<u8>,
    collection: u64,
    sealed_in_collection: u32,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("max_bytes", &self.max_bytes)
            .field("max_series", &self.max_series)
            .finish_non_exhaustive()
    }
}

impl Batcher {
    pub(crate) fn new(
        framing: Arc<dyn Framing>,
        compression: Compression,
        max_bytes: usize,
        max_series: u64,
    ) -> Batcher {
        Batcher {
            framing,
            compressor: Compressor::new(compression),
            max_bytes: max_bytes.max(1),
            max_series: max_series.max(1),
            raw: Vec::new(),
            records: Vec::new(),
            series: 0,
            samples: 0,
            open_at: None,
            framed: Vec::new(),
            collection: 0,
            sealed_in_collection: 0,
        }
    }

    pub(crate) fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    pub(crate) fn max_series(&self) -> u64 {
        self.max_series
    }

    pub(crate) fn compression(&self) -> Compression {
        self.compressor.kind()
    }

    /// Starts the records of collection number `id`.
    pub(crate) fn start_collection(&mut self, id: u64) {
        self.collection = id;
        self.sealed_in_collection = 0;
    }

    /// A writer that hands every sealed batch to `sink`.
    pub(crate) fn writer<'a>(&'a mut self, sink: &'a mut dyn FnMut(Batch)) -> RecordWriter<'a> {
        RecordWriter {
            batcher: self,
            sink,
        }
    }

    fn seal(&mut self, upto_records: usize, upto_bytes: usize, sink: &mut dyn FnMut(Batch)) {
        if upto_records == 0 {
            return;
        }
        let metas = &self.records[..upto_records];
        let mut batch = frame_and_compress(
            &*self.framing,
            &mut self.compressor,
            &self.raw[..upto_bytes],
            metas,
            &mut self.framed,
        );
        batch.collection = self.collection;
        batch.first_of_collection = self.sealed_in_collection == 0;
        self.sealed_in_collection += 1;
        sink(batch);
        // Keep what was not sealed (the record that did not fit).
        self.raw.copy_within(upto_bytes.., 0);
        self.raw.truncate(self.raw.len() - upto_bytes);
        self.records.drain(..upto_records);
        self.series = self.records.iter().map(|r| u64::from(r.series)).sum();
        self.samples = self.records.iter().map(|r| u64::from(r.samples)).sum();
    }

    /// Seals whatever is pending (end of a collection).
    pub(crate) fn flush(&mut self, sink: &mut dyn FnMut(Batch)) {
        debug_assert!(
            self.open_at.is_none(),
            "a record was begun and never finished"
        );
        let (n, len) = (self.records.len(), self.raw.len());
        self.seal(n, len, sink);
    }
}

/// Frames `raw` (the records listed in `metas`, back to back) and compresses the result.
pub(crate) fn frame_and_compress(
    framing: &dyn Framing,
    compressor: &mut Compressor,
    raw: &[u8],
    metas: &[RecordMeta],
    framed: &mut Vec<u8>,
) -> Batch {
    let sep = framing.separator();
    let records_len = raw.len() + sep.len() * metas.len().saturating_sub(1);
    framed.clear();
    framing.prefix(records_len, framed);
    let prefix_len = framed.len() as u32;
    framing.suffix(framed);
    let body = if sep.is_empty() {
        // Prefix, records, suffix: compressed where they are, without joining them first.
        let (prefix, suffix) = framed.split_at(prefix_len as usize);
        compressor.compress_parts_to_vec(&[prefix, raw, suffix])
    } else {
        framed.clear();
        framing.prefix(records_len, framed);
        frame_records(framing, raw, metas, framed);
        compressor.compress_to_vec(framed)
    }
    .expect("compressing into memory cannot fail");
    Batch {
        body: Bytes::from(body),
        compression: compressor.kind(),
        records: metas.to_vec(),
        prefix_len,
        series: metas.iter().map(|r| u64::from(r.series)).sum(),
        samples: metas.iter().map(|r| u64::from(r.samples)).sum(),
        collection: 0,
        first_of_collection: true,
        created: SystemTime::now(),
    }
}

/// Appends the records, with separators, and the suffix.
fn frame_records(framing: &dyn Framing, raw: &[u8], metas: &[RecordMeta], framed: &mut Vec<u8>) {
    let sep = framing.separator();
    if sep.is_empty() {
        framed.extend_from_slice(raw);
    } else {
        let mut at = 0;
        for (i, m) in metas.iter().enumerate() {
            if i > 0 {
                framed.extend_from_slice(sep);
            }
            framed.extend_from_slice(&raw[at..at + m.len as usize]);
            at += m.len as usize;
        }
    }
    framing.suffix(framed);
}

/// Cuts `batch` into two batches of about half its records each (by bytes); `None` if it has
/// a single record. Used when a receiver answers 413, or a compressed body exceeds a limit.
pub(crate) fn split(batch: &Batch, framing: &dyn Framing) -> Option<(Batch, Batch)> {
    if batch.records.len() < 2 {
        return None;
    }
    let mut framed = Vec::new();
    batch
        .compression
        .decompress(&batch.body, &mut framed)
        .ok()?;
    let sep = framing.separator().len();
    let mut raw = Vec::with_capacity(framed.len());
    let mut at = batch.prefix_len as usize;
    for (i, m) in batch.records.iter().enumerate() {
        if i > 0 {
            at += sep;
        }
        raw.extend_from_slice(framed.get(at..at + m.len as usize)?);
        at += m.len as usize;
    }
    // Cut where the two halves' bytes are closest, keeping a record on each side.
    let total: i64 = batch.records.iter().map(|r| i64::from(r.len)).sum();
    let mut acc = 0i64;
    let mut cut = 1;
    let mut best = i64::MAX;
    for (i, m) in batch.records[..batch.records.len() - 1].iter().enumerate() {
        acc += i64::from(m.len);
        let diff = (2 * acc - total).abs();
        if diff < best {
            (best, cut) = (diff, i + 1);
        }
    }
    let cut_bytes: usize = batch.records[..cut].iter().map(|r| r.len as usize).sum();
    let mut compressor = Compressor::new(batch.compression);
    let mut first = frame_and_compress(
        framing,
        &mut compressor,
        &raw[..cut_bytes],
        &batch.records[..cut],
        &mut framed,
    );
    let mut second = frame_and_compress(
        framing,
        &mut compressor,
        &raw[cut_bytes..],
        &batch.records[cut..],
        &mut framed,
    );
    for b in [&mut first, &mut second] {
        b.collection = batch.collection;
        b.created = batch.created;
    }
    first.first_of_collection = batch.first_of_collection;
    second.first_of_collection = false;
    Some((first, second))
}

/// Where an [`Encoder`] writes its records; packs them into batches as they come.
pub struct RecordWriter<'a> {
    batcher: &'a mut Batcher,
    sink: &'a mut dyn FnMut(Batch),
}

impl std::fmt::Debug for RecordWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordWriter")
            .field("batcher", &self.batcher)
            .finish_non_exhaustive()
    }
}

impl RecordWriter<'_> {
    /// Starts a record and returns the buffer to append its bytes to (it holds the records
    /// written before: append only).
    pub fn begin(&mut self) -> &mut Vec<u8> {
        let b = &mut *self.batcher;
        debug_assert!(b.open_at.is_none(), "begin called twice without finish");
        b.open_at = Some(b.raw.len());
        &mut b.raw
    }

    /// Ends the record begun last, holding `series` series and `samples` samples; seals the
    /// batch before it if adding it would pass the batch limits.
    pub fn finish(&mut self, series: u32, samples: u32) {
        let b = &mut *self.batcher;
        let start = b.open_at.take().expect("finish called without begin");
        let len = b.raw.len() - start;
        let over_bytes = start > 0 && b.raw.len() > b.max_bytes;
        let over_series = !b.records.is_empty() && b.series + u64::from(series) > b.max_series;
        if over_bytes || over_series {
            let n = b.records.len();
            b.seal(n, start, self.sink);
        }
        b.records.push(RecordMeta {
            len: len as u32,
            series,
            samples,
        });
        b.series += u64::from(series);
        b.samples += u64::from(samples);
    }

    /// Drops the record begun last.
    pub fn discard(&mut self) {
        let b = &mut *self.batcher;
        if let Some(start) = b.open_at.take() {
            b.raw.truncate(start);
        }
    }

    /// Seals the batch being filled now, so the next record starts a new request.
    pub fn flush(&mut self) {
        self.batcher.flush(self.sink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Json;
    impl Framing for Json {
        fn prefix(&self, _: usize, out: &mut Vec<u8>) {
            out.extend_from_slice(b"{\"series\":[");
        }
        fn separator(&self) -> &[u8] {
            b","
        }
        fn suffix(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(b"]}");
        }
    }

    fn body(b: &Batch) -> String {
        let mut out = Vec::new();
        b.compression.decompress(&b.body, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn write(batcher: &mut Batcher, items: &[&str]) -> Vec<Batch> {
        let mut got = Vec::new();
        let mut sink = |b: Batch| got.push(b);
        let mut w = batcher.writer(&mut sink);
        for item in items {
            w.begin().extend_from_slice(item.as_bytes());
            w.finish(1, 2);
        }
        w.flush();
        got
    }

    #[test]
    fn packs_by_series_and_frames() {
        let mut b = Batcher::new(Arc::new(Json), Compression::Gzip, 1 << 20, 2);
        b.start_collection(7);
        let got = write(&mut b, &["1", "2", "3", "4", "5"]);
        let bodies: Vec<String> = got.iter().map(body).collect();
        assert_eq!(
            bodies,
            [
                r#"{"series":[1,2]}"#,
                r#"{"series":[3,4]}"#,
                r#"{"series":[5]}"#
            ]
        );
        assert_eq!(got.iter().map(|b| b.samples).sum::<u64>(), 10);
        assert!(got[0].first_of_collection && !got[1].first_of_collection);
        assert!(got.iter().all(|b| b.collection == 7));
    }

    #[test]
    fn packs_by_bytes_and_lets_an_oversized_record_through_alone() {
        let mut b = Batcher::new(Arc::new(Concatenated), Compression::None, 10, 100);
        let got = write(&mut b, &["aaaa", "bbbb", "cccc", "dddddddddddddddd", "e"]);
        let bodies: Vec<String> = got.iter().map(body).collect();
        assert_eq!(bodies, ["aaaabbbb", "cccc", "dddddddddddddddd", "e"]);
    }

    #[test]
    fn splits_in_half_down_to_one_record() {
        let mut b = Batcher::new(Arc::new(Json), Compression::Snappy, 1 << 20, 100);
        let got = write(&mut b, &["\"a\"", "\"bb\"", "\"c\"", "\"dddd\""]);
        assert_eq!(got.len(), 1);
        let (l, r) = split(&got[0], &Json).unwrap();
        assert_eq!(body(&l), r#"{"series":["a","bb"]}"#);
        assert_eq!(body(&r), r#"{"series":["c","dddd"]}"#);
        assert_eq!((l.samples, r.samples), (4, 4));
        assert!(l.first_of_collection && !r.first_of_collection);
        let (ll, lr) = split(&l, &Json).unwrap();
        assert_eq!(
            (body(&ll).as_str(), body(&lr).as_str()),
            (r#"{"series":["a"]}"#, r#"{"series":["bb"]}"#)
        );
        assert!(split(&ll, &Json).is_none());
    }

    #[test]
    fn discard_drops_the_open_record() {
        let mut b = Batcher::new(Arc::new(Concatenated), Compression::None, 100, 100);
        let mut got = Vec::new();
        let mut sink = |b: Batch| got.push(b);
        let mut w = b.writer(&mut sink);
        w.begin().extend_from_slice(b"keep");
        w.finish(1, 1);
        w.begin().extend_from_slice(b"drop");
        w.discard();
        w.flush();
        assert_eq!(got.len(), 1);
        assert_eq!(body(&got[0]), "keep");
    }
}
