//! Where sealed batches wait: a bounded queue in memory, or an on-disk spool.
//!
//! Both keep order (oldest first), count every byte they hold against one bound, and make room
//! by dropping the **oldest** batches, counting every sample dropped. The batch being sent is
//! never dropped (it may be delivered any moment); with it held, a new batch that still does
//! not fit is dropped instead.
//!
//! With a spool every batch is written to disk (and handed to the OS) before it is sent, and
//! confirmed once delivered: a process killed while the receiver is down loses nothing that
//! was spooled, and its next start sends it. Halves of a batch cut after a 413 wait in memory
//! in front of the spool; the original stays unconfirmed until both are sent.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aiplatform_logging::{Spool, SpoolConfig, SpoolPos};
use bytes::Bytes;

use crate::batch::{Batch, RecordMeta};
use crate::compress::Compression;
use crate::stats::{DropReason, Stats};

/// What happens to queued batches when a newer collection arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueuePolicy {
    /// Every batch is history and is sent in order (remote write, OTLP, Datadog).
    #[default]
    KeepAll,
    /// A collection replaces the ones before it (the Pushgateway's PUT): queued batches of
    /// older collections are dropped unsent when a newer collection is queued, and counted in
    /// `aiplatform_push_superseded_batches_total`, not as lost samples.
    LatestCollection,
}

/// An on-disk spool for a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolOptions {
    /// The directory (created if missing; locked while the pipeline runs).
    pub dir: PathBuf,
    /// Bytes on disk at most (default 256 MiB).
    pub max_bytes: u64,
}

impl SpoolOptions {
    /// A spool in `dir` of at most 256 MiB.
    pub fn new(dir: impl Into<PathBuf>) -> SpoolOptions {
        SpoolOptions {
            dir: dir.into(),
            max_bytes: 256 * 1024 * 1024,
        }
    }

    /// Caps its size.
    pub fn max_bytes(mut self, bytes: u64) -> SpoolOptions {
        self.max_bytes = bytes;
        self
    }

    fn config(&self) -> SpoolConfig {
        // Space is given back a segment at a time: small segments keep eviction fine-grained.
        let segment = (self.max_bytes / 16).clamp(64 * 1024, 16 * 1024 * 1024);
        SpoolConfig::new(&self.dir)
            .max_bytes(self.max_bytes)
            .segment_bytes(segment)
    }
}

/// A batch handed to the sender.
#[derive(Debug)]
pub(crate) struct Taken {
    pub(crate) batch: Batch,
    pos: Option<SpoolPos>,
    bytes: u64,
}

#[derive(Debug)]
struct Entry {
    batch: Batch,
    pos: Option<SpoolPos>,
}

#[derive(Debug)]
struct OnDisk {
    spool: Spool,
    batches: u64,
    samples: u64,
}

/// The queue of one pipeline.
#[derive(Debug)]
pub(crate) struct Store {
    front: VecDeque<Entry>,
    front_bytes: u64,
    front_samples: u64,
    disk: Option<OnDisk>,
    in_flight: Option<(u64, u64)>,
    max_bytes: u64,
    policy: QueuePolicy,
    stats: Arc<Stats>,
    encode_buf: Vec<u8>,
}

impl Store {
    pub(crate) fn memory(max_bytes: u64, policy: QueuePolicy, stats: Arc<Stats>) -> Store {
        stats.queue_limit(max_bytes);
        Store {
            front: VecDeque::new(),
            front_bytes: 0,
            front_samples: 0,
            disk: None,
            in_flight: None,
            max_bytes,
            policy,
            stats,
            encode_buf: Vec::new(),
        }
    }

    /// Opens the spool; batches left by a previous run are counted and sent first.
    pub(crate) fn spooled(
        options: &SpoolOptions,
        policy: QueuePolicy,
        stats: Arc<Stats>,
    ) -> Result<Store, aiplatform_logging::Error> {
        let mut spool = Spool::open(options.config())?;
        let (mut batches, mut samples) = (0, 0);
        while let Ok(Some((record, _))) = spool.read_next() {
            if let Some(b) = decode(&record) {
                batches += 1;
                samples += b.samples;
            }
        }
        spool.rewind();
        let mut store = Store::memory(options.max_bytes, policy, stats);
        store.disk = Some(OnDisk {
            spool,
            batches,
            samples,
        });
        store.publish();
        Ok(store)
    }

    fn held_bytes(&self) -> u64 {
        let disk = self.disk.as_ref().map_or(0, |d| d.spool.bytes());
        self.front_bytes + disk + self.in_flight.map_or(0, |f| f.0)
    }

    /// Batches and samples waiting, the one being sent included.
    pub(crate) fn pending(&self) -> (u64, u64) {
        let (db, ds) = self
            .disk
            .as_ref()
            .map_or((0, 0), |d| (d.batches, d.samples));
        let (fb, fs) = self.in_flight.map_or((0, 0), |f| (1, f.1));
        (
            self.front.len() as u64 + db + fb,
            self.front_samples + ds + fs,
        )
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pending().0 == 0
    }

    fn publish(&self) {
        let (batches, _) = self.pending();
        self.stats.queue(self.held_bytes(), batches);
    }

    /// Queues a sealed batch, dropping the oldest to make room.
    pub(crate) fn push(&mut self, batch: Batch) {
        if self.policy == QueuePolicy::LatestCollection && batch.first_of_collection {
            self.supersede(batch.collection);
        }
        if self.disk.is_some() {
            self.push_to_disk(batch);
        } else {
            let bytes = batch.footprint();
            while self.held_bytes() + bytes > self.max_bytes {
                let Some(old) = self.front.pop_front() else {
                    break;
                };
                self.forget(&old.batch);
                self.stats.dropped_batch(DropReason::QueueFull, &old.batch);
            }
            if self.held_bytes() + bytes > self.max_bytes {
                self.stats.dropped_batch(DropReason::QueueFull, &batch);
            } else {
                self.front_bytes += bytes;
                self.front_samples += batch.samples;
                self.front.push_back(Entry { batch, pos: None });
            }
        }
        self.publish();
    }

    fn forget(&mut self, batch: &Batch) {
        self.front_bytes -= batch.footprint();
        self.front_samples -= batch.samples;
    }

    fn supersede(&mut self, collection: u64) {
        let before = self.front.len();
        let mut kept = VecDeque::with_capacity(before);
        while let Some(e) = self.front.pop_front() {
            if e.batch.collection < collection {
                self.forget(&e.batch);
            } else {
                kept.push_back(e);
            }
        }
        self.front = kept;
        let mut superseded = (before - self.front.len()) as u64;
        if let Some(d) = &mut self.disk {
            // Everything unread on disk belongs to older collections.
            while let Ok(Some((_, pos))) = d.spool.read_next() {
                d.spool.confirm(pos);
                superseded += 1;
            }
            d.batches = 0;
            d.samples = 0;
        }
        self.stats.superseded(superseded);
    }

    fn push_to_disk(&mut self, batch: Batch) {
        encode(&batch, &mut self.encode_buf);
        let d = self.disk.as_mut().expect("spooled store");
        loop {
            match d.spool.append(&self.encode_buf) {
                Ok(true) => {
                    d.batches += 1;
                    d.samples += batch.samples;
                    if d.spool.flush().is_err() {
                        tracing::warn!("spool: handing a batch to the OS failed");
                    }
                    return;
                }
                Ok(false) => {
                    // Full: drop the oldest unsent batch on disk and try again.
                    match d.spool.read_next() {
                        Ok(Some((record, pos))) => {
                            d.spool.confirm(pos);
                            let old = decode(&record);
                            let samples = old.as_ref().map_or(0, |b| b.samples);
                            d.batches = d.batches.saturating_sub(1);
                            d.samples = d.samples.saturating_sub(samples);
                            match &old {
                                Some(old) => {
                                    self.stats.dropped_batch(DropReason::QueueFull, old);
                                }
                                None => self.stats.dropped(DropReason::QueueFull, 0),
                            }
                        }
                        _ => {
                            self.stats.dropped_batch(DropReason::QueueFull, &batch);
                            return;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "spool: writing a batch failed; it is dropped");
                    self.stats.dropped_batch(DropReason::Spool, &batch);
                    return;
                }
            }
        }
    }

    /// The next batch to send, oldest first.
    pub(crate) fn take(&mut self) -> Option<Taken> {
        debug_assert!(self.in_flight.is_none(), "one batch in flight at a time");
        let taken = if let Some(e) = self.front.pop_front() {
            self.forget(&e.batch);
            let bytes = e.batch.footprint();
            Some(Taken {
                batch: e.batch,
                pos: e.pos,
                bytes,
            })
        } else {
            self.take_from_disk()
        };
        if let Some(t) = &taken {
            self.in_flight = Some((t.bytes, t.batch.samples));
        }
        self.publish();
        taken
    }

    fn take_from_disk(&mut self) -> Option<Taken> {
        let d = self.disk.as_mut()?;
        loop {
            match d.spool.read_next() {
                Ok(Some((record, pos))) => {
                    d.batches = d.batches.saturating_sub(1);
                    match decode(&record) {
                        Some(batch) => {
                            d.samples = d.samples.saturating_sub(batch.samples);
                            // On disk it still counts in the spool's size.
                            return Some(Taken {
                                batch,
                                pos: Some(pos),
                                bytes: 0,
                            });
                        }
                        None => {
                            d.spool.confirm(pos);
                            self.stats.dropped(DropReason::Spool, 0);
                        }
                    }
                }
                Ok(None) => return None,
                Err(e) => {
                    tracing::warn!(error = %e, "spool: reading a batch failed");
                    return None;
                }
            }
        }
    }

    /// The batch was delivered or dropped.
    pub(crate) fn done(&mut self, taken: Taken) {
        self.in_flight = None;
        if let (Some(pos), Some(d)) = (taken.pos, &mut self.disk) {
            d.spool.confirm(pos);
        }
        self.publish();
    }

    /// The batch was cut in two: both halves go first, in order.
    pub(crate) fn replace_with(&mut self, taken: Taken, first: Batch, second: Batch) {
        self.in_flight = None;
        for (batch, pos) in [(second, taken.pos), (first, None)] {
            self.front_bytes += batch.footprint();
            self.front_samples += batch.samples;
            self.front.push_front(Entry { batch, pos });
        }
        self.publish();
    }

    /// The batch could not be finished before shutdown's deadline: with a spool it stays on
    /// disk for the next start; in memory it is lost.
    pub(crate) fn abandon(&mut self, taken: Taken) {
        self.in_flight = None;
        match (&mut self.disk, taken.pos) {
            // Unconfirmed on disk: sent again at the next start.
            (Some(d), Some(_)) => {
                d.batches += 1;
                d.samples += taken.batch.samples;
            }
            // The first half of a cut batch: its original is still unconfirmed on disk.
            (Some(_), None) => {}
            (None, _) => self.stats.dropped_batch(DropReason::Shutdown, &taken.batch),
        }
        self.publish();
    }

    /// Shutdown: what is in memory is counted as dropped, the spool is persisted.
    pub(crate) fn close(&mut self) -> u64 {
        let mut lost = 0;
        while let Some(e) = self.front.pop_front() {
            self.forget(&e.batch);
            // With a spool, what waits in memory are halves of records still on disk.
            if self.disk.is_none() {
                lost += e.batch.samples;
                self.stats.dropped_batch(DropReason::Shutdown, &e.batch);
            }
        }
        if let Some(d) = &mut self.disk
            && let Err(e) = d.spool.persist()
        {
            tracing::warn!(error = %e, "spool: writing its cursor failed");
        }
        self.publish();
        lost
    }

    /// Drops everything (the receiver told the pipeline to stop).
    pub(crate) fn clear(&mut self, reason: DropReason) {
        while let Some(e) = self.front.pop_front() {
            self.forget(&e.batch);
            self.stats.dropped_batch(reason, &e.batch);
        }
        if let Some(d) = &mut self.disk {
            while let Ok(Some((record, pos))) = d.spool.read_next() {
                d.spool.confirm(pos);
                match decode(&record) {
                    Some(batch) => self.stats.dropped_batch(reason, &batch),
                    None => self.stats.dropped(reason, 0),
                }
            }
            d.batches = 0;
            d.samples = 0;
        }
        self.publish();
    }
}

const MAGIC: &[u8; 4] = b"APB1";

fn compression_code(c: Compression) -> u8 {
    match c {
        Compression::None => 0,
        Compression::Gzip => 1,
        Compression::Snappy => 2,
        #[cfg(feature = "zstd")]
        Compression::Zstd => 3,
        Compression::Deflate => 4,
    }
}

fn compression_from(code: u8) -> Option<Compression> {
    Some(match code {
        0 => Compression::None,
        1 => Compression::Gzip,
        2 => Compression::Snappy,
        #[cfg(feature = "zstd")]
        3 => Compression::Zstd,
        4 => Compression::Deflate,
        _ => return None,
    })
}

/// A batch as a spool record: a fixed header, the record table, the body.
fn encode(b: &Batch, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(MAGIC);
    out.push(compression_code(b.compression));
    out.push(u8::from(b.first_of_collection));
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&b.collection.to_le_bytes());
    let created = b
        .created
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    out.extend_from_slice(&created.to_le_bytes());
    out.extend_from_slice(&b.prefix_len.to_le_bytes());
    out.extend_from_slice(&(b.records.len() as u32).to_le_bytes());
    for r in &b.records {
        out.extend_from_slice(&r.len.to_le_bytes());
        out.extend_from_slice(&r.series.to_le_bytes());
        out.extend_from_slice(&r.samples.to_le_bytes());
    }
    out.extend_from_slice(&b.body);
}

fn decode(rec: &[u8]) -> Option<Batch> {
    struct Reader<'a>(&'a [u8]);
    impl<'a> Reader<'a> {
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            let (a, b) = (self.0.get(..n)?, self.0.get(n..)?);
            self.0 = b;
            Some(a)
        }
        fn u32(&mut self) -> Option<u32> {
            Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
        }
        fn u64(&mut self) -> Option<u64> {
            Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
        }
    }
    let mut r = Reader(rec);
    if r.take(4)? != MAGIC {
        return None;
    }
    let flags = r.take(4)?;
    let compression = compression_from(flags[0])?;
    let first = flags[1] != 0;
    let collection = r.u64()?;
    let created = UNIX_EPOCH + Duration::from_millis(r.u64()?);
    let prefix_len = r.u32()?;
    let n = r.u32()? as usize;
    if n > r.0.len() / 12 {
        return None;
    }
    let mut records = Vec::with_capacity(n);
    for _ in 0..n {
        records.push(RecordMeta {
            len: r.u32()?,
            series: r.u32()?,
            samples: r.u32()?,
        });
    }
    Some(Batch {
        body: Bytes::copy_from_slice(r.0),
        compression,
        series: records.iter().map(|m| u64::from(m.series)).sum(),
        samples: records.iter().map(|m| u64::from(m.samples)).sum(),
        records,
        prefix_len,
        collection,
        first_of_collection: first,
        created: created.min(SystemTime::now()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{Concatenated, frame_and_compress};
    use crate::compress::Compressor;

    fn batch(collection: u64, records: usize, bytes_each: usize) -> Batch {
        let raw = vec![b'x'; records * bytes_each];
        let metas: Vec<RecordMeta> = (0..records)
            .map(|_| RecordMeta {
                len: bytes_each as u32,
                series: 1,
                samples: 3,
            })
            .collect();
        let mut b = frame_and_compress(
            &Concatenated,
            &mut Compressor::new(Compression::None),
            &raw,
            &metas,
            &mut Vec::new(),
        );
        b.collection = collection;
        b
    }

    #[test]
    fn memory_drops_oldest_and_counts_samples() {
        let stats = Arc::new(Stats::default());
        let one = batch(1, 10, 100).footprint();
        let mut s = Store::memory(one * 3, QueuePolicy::KeepAll, stats.clone());
        for c in 1..=5 {
            s.push(batch(c, 10, 100));
        }
        assert_eq!(s.pending(), (3, 90));
        assert_eq!(stats.dropped_for(DropReason::QueueFull), 60);
        let t = s.take().unwrap();
        assert_eq!(t.batch.collection, 3, "the oldest two went");
        // The batch in flight is kept; a new one that does not fit beside it evicts the
        // pending ones first.
        s.push(batch(6, 10, 100));
        s.push(batch(7, 10, 100));
        assert_eq!(s.pending(), (3, 90));
        s.done(t);
        assert_eq!(s.take().unwrap().batch.collection, 6, "5 made room for 7");
        assert!(stats.queue_bytes() <= one * 3);
    }

    #[test]
    fn the_drop_observer_sees_every_dropped_batch() {
        let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let log = seen.clone();
        let stats = Arc::new(Stats::with_observer(Some(Arc::new(
            move |reason: DropReason, b: &Batch| log.lock().push((reason, b.collection, b.samples)),
        ))));
        let one = batch(1, 10, 100).footprint();
        let mut s = Store::memory(one * 2, QueuePolicy::KeepAll, stats.clone());
        for c in 1..=4 {
            s.push(batch(c, 10, 100));
        }
        s.close();
        assert_eq!(
            *seen.lock(),
            [
                (DropReason::QueueFull, 1, 30),
                (DropReason::QueueFull, 2, 30),
                (DropReason::Shutdown, 3, 30),
                (DropReason::Shutdown, 4, 30),
            ]
        );
        assert_eq!(stats.dropped_total(), 120);
    }

    #[test]
    fn latest_collection_supersedes() {
        let stats = Arc::new(Stats::default());
        let mut s = Store::memory(1 << 20, QueuePolicy::LatestCollection, stats.clone());
        s.push(batch(1, 2, 10));
        let mut second = batch(1, 2, 10);
        second.first_of_collection = false;
        s.push(second);
        s.push(batch(2, 2, 10));
        assert_eq!(s.pending().0, 1);
        assert_eq!(stats.dropped_total(), 0);
        assert_eq!(s.take().unwrap().batch.collection, 2);
    }

    #[test]
    fn spool_round_trips_and_survives_reopen() {
        let dir = std::env::temp_dir().join(format!("aipush-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let opts = SpoolOptions::new(&dir).max_bytes(1 << 20);
        {
            let mut s =
                Store::spooled(&opts, QueuePolicy::KeepAll, Arc::new(Stats::default())).unwrap();
            for c in 1..=4 {
                s.push(batch(c, 3, 50));
            }
            let t = s.take().unwrap();
            assert_eq!(t.batch.collection, 1);
            s.done(t);
            let t = s.take().unwrap();
            assert_eq!(t.batch.collection, 2);
            // Killed while sending batch 2: not confirmed.
            std::mem::forget(t);
            s.close();
        }
        let mut s =
            Store::spooled(&opts, QueuePolicy::KeepAll, Arc::new(Stats::default())).unwrap();
        assert_eq!(s.pending(), (3, 27));
        let got: Vec<u64> = std::iter::from_fn(|| {
            let t = s.take()?;
            let c = t.batch.collection;
            assert_eq!(t.batch.records(), 3);
            s.done(t);
            Some(c)
        })
        .collect();
        assert_eq!(got, [2, 3, 4]);
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn full_spool_drops_oldest() {
        let dir = std::env::temp_dir().join(format!("aipush-store-full-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let stats = Arc::new(Stats::default());
        let opts = SpoolOptions::new(&dir).max_bytes(64 * 1024);
        let mut s = Store::spooled(&opts, QueuePolicy::KeepAll, stats.clone()).unwrap();
        for c in 1..=100 {
            s.push(batch(c, 4, 1000));
        }
        assert!(stats.dropped_for(DropReason::QueueFull) > 0);
        assert!(stats.queue_bytes() <= 64 * 1024);
        let first = s.take().unwrap().batch.collection;
        assert!(first > 1, "the oldest were dropped");
        let (batches, samples) = s.pending();
        assert_eq!(samples, batches * 12);
        assert_eq!(stats.dropped_for(DropReason::QueueFull) + samples, 100 * 12);
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn spool_records_reject_garbage() {
        assert!(decode(b"").is_none());
        assert!(decode(b"APB1\x09\0\0\0").is_none());
        let mut buf = Vec::new();
        encode(&batch(9, 2, 5), &mut buf);
        let b = decode(&buf).unwrap();
        assert_eq!((b.collection, b.records(), b.samples), (9, 2, 6));
        buf.truncate(30);
        assert!(decode(&buf).is_none());
    }
}
