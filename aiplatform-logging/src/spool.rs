//! The on-disk spool: records that could not be delivered yet (Logstash lines, push batches),
//! kept in order across an outage longer than a memory queue holds and across a process
//! restart.
//!
//! The Logstash sink uses it through [`SpoolConfig`]; other senders (the push pipeline) open a
//! [`Spool`] themselves:
//!
//! ```
//! use aiplatform_logging::{Spool, SpoolConfig};
//!
//! let dir = std::env::temp_dir().join(format!("spool-doc-{}", std::process::id()));
//! let mut spool = Spool::open(SpoolConfig::new(&dir)).unwrap();
//! assert!(spool.append(b"first").unwrap());
//! assert!(spool.append(b"second").unwrap());
//! let (record, pos) = spool.read_next().unwrap().unwrap();
//! assert_eq!(record, b"first");
//! spool.confirm(pos); // delivered: never read again, not even after a restart
//! drop(spool);
//! let mut reopened = Spool::open(SpoolConfig::new(&dir)).unwrap();
//! assert_eq!(reopened.read_next().unwrap().unwrap().0, b"second");
//! # drop(reopened);
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::Error;

const MAGIC: &[u8; 4] = b"LSP1";
const HEADER: usize = 12;
/// Records larger than this are treated as corruption.
const MAX_RECORD: usize = 64 * 1024 * 1024;
const CURSOR_EVERY: Duration = Duration::from_millis(200);

/// Where and how large the on-disk spool of a Logstash sink is.
///
/// # Layout
///
/// A directory holding numbered segment files (`00000000000000000001.spool`, ...), a `cursor`
/// file and a `lock` file. A segment is a sequence of records:
///
/// ```text
/// magic "LSP1" (4 bytes) | payload length (u32 LE) | CRC-32 of payload (u32 LE) | payload
/// ```
///
/// `cursor` holds `segment offset`: everything before it has been delivered (confirmed, see
/// the sink docs). Segments wholly before the cursor are deleted.
///
/// # Failure behaviour
///
/// - **Bounded**: when appending would take the spool past its size limit, the new line is
///   dropped and counted as `spool_full`.
/// - **Corruption-tolerant**: a record whose magic, length or checksum is wrong is skipped by
///   scanning forward to the next valid record (counted as `spool_corrupt`); a torn record at
///   the end of the newest segment (a crash mid-write) is cut off when the spool is opened.
/// - **Restart**: a new sink on the same directory replays from the cursor, in order. Lines
///   delivered after the last cursor write are delivered again (the cursor is written at most
///   every 200 ms and on shutdown); `event.hash` lets Logstash drop those duplicates.
/// - **Exclusive**: the `lock` file is locked (`flock`) for as long as the sink runs, so two
///   processes never interleave one spool.
/// - Data is handed to the OS page cache, not `fsync`ed: it survives a process crash, not a
///   power loss.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    pub(crate) dir: PathBuf,
    pub(crate) max_bytes: u64,
    pub(crate) segment_bytes: u64,
}

impl SpoolConfig {
    /// A spool in `dir` (created if missing), at most 256 MiB.
    pub fn new(dir: impl Into<PathBuf>) -> SpoolConfig {
        SpoolConfig {
            dir: dir.into(),
            max_bytes: 256 * 1024 * 1024,
            segment_bytes: 8 * 1024 * 1024,
        }
    }

    /// Caps the spool's size on disk.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes.max(1024);
        self
    }

    /// Size at which a new segment file is started (smaller segments free space sooner).
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes.max(1024);
        self
    }
}

/// A position in the spool: the byte after a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SpoolPos {
    seg: u64,
    off: u64,
}

/// An open spool directory: append records, read them back in order, confirm what was
/// delivered. See [`SpoolConfig`] for the layout and the failure behaviour.
#[derive(Debug)]
pub struct Spool {
    cfg: SpoolConfig,
    _lock: File,
    /// Segment ids and sizes, oldest first; the last one is appended to.
    segs: Vec<(u64, u64)>,
    writer: BufWriter<File>,
    dirty: bool,
    read: SpoolPos,
    confirmed: SpoolPos,
    cursor_written: SpoolPos,
    cursor_at: Instant,
    /// Bytes of segment `read.seg` from offset `buf_off`.
    buf: Vec<u8>,
    buf_off: u64,
    buf_seg: u64,
    corrupt: u64,
}

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.spool"))
}

fn record_at(buf: &[u8], p: usize) -> Option<(usize, usize)> {
    let h = buf.get(p..p + HEADER)?;
    if &h[..4] != MAGIC {
        return None;
    }
    let len = u32::from_le_bytes(h[4..8].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(h[8..12].try_into().ok()?);
    if len > MAX_RECORD {
        return None;
    }
    let body = buf.get(p + HEADER..p + HEADER + len)?;
    (crc32fast::hash(body) == crc).then_some((p + HEADER, p + HEADER + len))
}

/// The next offset at or after `from` where a valid record starts.
fn resync(buf: &[u8], from: usize) -> Option<usize> {
    let mut p = from;
    while p + HEADER <= buf.len() {
        let q = buf[p..].windows(4).position(|w| w == MAGIC)? + p;
        if record_at(buf, q).is_some() {
            return Some(q);
        }
        p = q + 1;
    }
    None
}

impl Spool {
    /// Opens (or creates) the spool directory and locks it for this process; reading starts
    /// at the last confirmed position.
    pub fn open(cfg: SpoolConfig) -> Result<Spool, Error> {
        let dir = cfg.dir.clone();
        let err = |source| Error::Spool {
            path: dir.clone(),
            source,
        };
        fs::create_dir_all(&dir).map_err(err)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("lock"))
            .map_err(err)?;
        lock_exclusive(&lock).map_err(err)?;
        let mut ids: Vec<u64> = fs::read_dir(&dir)
            .map_err(err)?
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".spool")?.parse().ok()
            })
            .collect();
        ids.sort_unstable();
        if ids.is_empty() {
            ids.push(1);
            File::create(seg_path(&dir, 1)).map_err(err)?;
        }
        let last = *ids.last().unwrap_or(&1);
        let mut segs = Vec::with_capacity(ids.len());
        for &id in &ids {
            let len = fs::metadata(seg_path(&dir, id)).map_err(err)?.len();
            segs.push((id, len));
        }
        // Cut a torn tail off the newest segment.
        let mut data = Vec::new();
        File::open(seg_path(&dir, last))
            .and_then(|mut f| f.read_to_end(&mut data))
            .map_err(err)?;
        let mut p = 0;
        let mut good = 0;
        while p < data.len() {
            match record_at(&data, p) {
                Some((_, end)) => {
                    p = end;
                    good = end;
                }
                None => match resync(&data, p + 1) {
                    Some(q) => p = q,
                    None => break,
                },
            }
        }
        let file = OpenOptions::new()
            .append(true)
            .open(seg_path(&dir, last))
            .map_err(err)?;
        if (good as u64) < data.len() as u64 {
            file.set_len(good as u64).map_err(err)?;
            if let Some(s) = segs.last_mut() {
                s.1 = good as u64;
            }
        }
        let first = SpoolPos {
            seg: ids[0],
            off: 0,
        };
        let cursor = fs::read_to_string(dir.join("cursor"))
            .ok()
            .and_then(|s| {
                let mut it = s.split_whitespace();
                Some(SpoolPos {
                    seg: it.next()?.parse().ok()?,
                    off: it.next()?.parse().ok()?,
                })
            })
            .filter(|c| c.seg >= first.seg && c.seg <= last)
            .unwrap_or(first);
        // A cursor past a cut-off tail points at data that no longer exists.
        let last_len = segs.last().map_or(0, |s| s.1);
        let cursor = if cursor.seg == last && cursor.off > last_len {
            SpoolPos {
                seg: last,
                off: last_len,
            }
        } else {
            cursor
        };
        let mut spool = Spool {
            cfg,
            _lock: lock,
            segs,
            writer: BufWriter::with_capacity(64 * 1024, file),
            dirty: false,
            read: cursor,
            confirmed: cursor,
            cursor_written: cursor,
            cursor_at: Instant::now(),
            buf: Vec::new(),
            buf_off: 0,
            buf_seg: 0,
            corrupt: 0,
        };
        spool.delete_before(cursor.seg);
        Ok(spool)
    }

    fn active(&self) -> (u64, u64) {
        *self.segs.last().expect("a spool always has a segment")
    }

    /// Total bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.segs.iter().map(|s| s.1).sum()
    }

    /// Appends a record. `Ok(false)` when the spool is full (the caller counts the drop).
    pub fn append(&mut self, line: &[u8]) -> io::Result<bool> {
        let rec = (HEADER + line.len()) as u64;
        if self.bytes() + rec > self.cfg.max_bytes {
            return Ok(false);
        }
        let (id, len) = self.active();
        if len > 0 && len + rec > self.cfg.segment_bytes {
            self.start_segment(id + 1)?;
        }
        self.writer.write_all(MAGIC)?;
        self.writer.write_all(&(line.len() as u32).to_le_bytes())?;
        self.writer
            .write_all(&crc32fast::hash(line).to_le_bytes())?;
        self.writer.write_all(line)?;
        if let Some(s) = self.segs.last_mut() {
            s.1 += rec;
        }
        self.dirty = true;
        Ok(true)
    }

    /// Pushes appended records to the OS (they then survive a crash of the process).
    pub fn flush(&mut self) -> io::Result<()> {
        if self.dirty {
            self.writer.flush()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Whether records after the read position remain.
    pub fn has_unread(&self) -> bool {
        let (id, len) = self.active();
        self.read.seg < id || self.read.off < len
    }

    /// Reads the next record and the position after it; skips (and counts) corrupt stretches.
    pub fn read_next(&mut self) -> io::Result<Option<(Vec<u8>, SpoolPos)>> {
        self.flush()?;
        loop {
            let (active, active_len) = self.active();
            let seg_len = self.segs.iter().find(|s| s.0 == self.read.seg).map(|s| s.1);
            let Some(seg_len) = seg_len else {
                // The read segment vanished (deleted after confirmation): move to the next one.
                match self.segs.iter().find(|s| s.0 > self.read.seg) {
                    Some(&(id, _)) => {
                        self.read = SpoolPos { seg: id, off: 0 };
                        continue;
                    }
                    None => return Ok(None),
                }
            };
            if self.read.off >= seg_len {
                if self.read.seg < active {
                    let next = self
                        .segs
                        .iter()
                        .find(|s| s.0 > self.read.seg)
                        .map_or(active, |s| s.0);
                    self.read = SpoolPos { seg: next, off: 0 };
                    continue;
                }
                debug_assert!(self.read.off >= active_len);
                return Ok(None);
            }
            let have = self.buf_seg == self.read.seg
                && self.read.off >= self.buf_off
                && self.read.off < self.buf_off + self.buf.len() as u64;
            if !have
                || self.buf_off + (self.buf.len() as u64) < seg_len
                    && record_at(&self.buf, (self.read.off - self.buf_off) as usize).is_none()
            {
                self.load()?;
            }
            let p = (self.read.off - self.buf_off) as usize;
            if let Some((a, b)) = record_at(&self.buf, p) {
                let line = self.buf[a..b].to_vec();
                self.read.off = self.buf_off + b as u64;
                return Ok(Some((line, self.read)));
            }
            self.corrupt += 1;
            match resync(&self.buf, p + 1) {
                Some(q) => self.read.off = self.buf_off + q as u64,
                None => self.read.off = seg_len,
            }
        }
    }

    fn load(&mut self) -> io::Result<()> {
        let mut f = File::open(seg_path(&self.cfg.dir, self.read.seg))?;
        f.seek(SeekFrom::Start(self.read.off))?;
        self.buf.clear();
        f.read_to_end(&mut self.buf)?;
        self.buf_off = self.read.off;
        self.buf_seg = self.read.seg;
        Ok(())
    }

    /// Marks everything up to `pos` as delivered; whole segments before it are deleted.
    pub fn confirm(&mut self, pos: SpoolPos) {
        if pos <= self.confirmed {
            return;
        }
        self.confirmed = pos;
        let (id, len) = self.active();
        if pos.seg == id && pos.off >= len && self.read >= pos {
            // Everything is delivered: start afresh so the files can go.
            if self.roll().is_err() {
                return;
            }
        } else {
            self.delete_before(pos.seg);
        }
        if self.cursor_at.elapsed() >= CURSOR_EVERY {
            let _ = self.persist();
        }
    }

    /// Moves the read position back to the first unconfirmed record (after a disconnect).
    pub fn rewind(&mut self) {
        self.read = self.confirmed;
    }

    /// Writes the cursor file (atomically, by rename); also done at most every 200 ms by
    /// [`Spool::confirm`], and on drop.
    pub fn persist(&mut self) -> io::Result<()> {
        self.flush()?;
        self.cursor_at = Instant::now();
        if self.cursor_written == self.confirmed {
            return Ok(());
        }
        let tmp = self.cfg.dir.join("cursor.tmp");
        fs::write(
            &tmp,
            format!("{} {}\n", self.confirmed.seg, self.confirmed.off),
        )?;
        fs::rename(&tmp, self.cfg.dir.join("cursor"))?;
        self.cursor_written = self.confirmed;
        Ok(())
    }

    /// Corrupt stretches skipped since the last call.
    pub fn take_corrupt(&mut self) -> u64 {
        std::mem::take(&mut self.corrupt)
    }

    /// Makes segment `id` the one appended to.
    fn start_segment(&mut self, id: u64) -> io::Result<()> {
        self.writer.flush()?;
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(seg_path(&self.cfg.dir, id))?;
        self.writer = BufWriter::with_capacity(64 * 1024, f);
        self.segs.push((id, 0));
        Ok(())
    }

    fn roll(&mut self) -> io::Result<()> {
        let next = self.active().0 + 1;
        self.start_segment(next)?;
        let start = SpoolPos { seg: next, off: 0 };
        self.read = start;
        self.confirmed = start;
        self.delete_before(next);
        self.persist()
    }

    fn delete_before(&mut self, seg: u64) {
        let dir = self.cfg.dir.clone();
        self.segs.retain(|&(id, _)| {
            if id < seg {
                let _ = fs::remove_file(seg_path(&dir, id));
                false
            } else {
                true
            }
        });
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = self.persist();
    }
}

fn lock_exclusive(f: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: `f` owns a valid open descriptor for the duration of the call; flock has no
        // memory-safety preconditions beyond that.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(unix))]
    let _ = f;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("aiplog-spool-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn drain(s: &mut Spool) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some((l, pos)) = s.read_next().unwrap() {
            out.push(l);
            s.confirm(pos);
        }
        out
    }

    #[test]
    fn replays_in_order_after_reopen() {
        let dir = tmpdir("reopen");
        let cfg = SpoolConfig::new(&dir).segment_bytes(1024);
        {
            let mut s = Spool::open(cfg.clone()).unwrap();
            for i in 0..200 {
                assert!(s.append(format!("line {i}").as_bytes()).unwrap());
            }
            // Deliver the first 50, then "crash".
            for _ in 0..50 {
                let (_, pos) = s.read_next().unwrap().unwrap();
                s.confirm(pos);
            }
            s.persist().unwrap();
        }
        let mut s = Spool::open(cfg).unwrap();
        let got = drain(&mut s);
        let want: Vec<Vec<u8>> = (50..200)
            .map(|i| format!("line {i}").into_bytes())
            .collect();
        assert_eq!(got, want);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn second_open_is_refused_while_locked() {
        let dir = tmpdir("lock");
        let _a = Spool::open(SpoolConfig::new(&dir)).unwrap();
        assert!(matches!(
            Spool::open(SpoolConfig::new(&dir)),
            Err(Error::Spool { .. })
        ));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn bounded() {
        let dir = tmpdir("bounded");
        let mut s = Spool::open(SpoolConfig::new(&dir).max_bytes(2048)).unwrap();
        let line = [b'x'; 100];
        let stored = (0..100).filter(|_| s.append(&line).unwrap()).count();
        assert_eq!(stored, 2048 / (100 + HEADER));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn skips_corruption_and_cuts_torn_tails() {
        let dir = tmpdir("corrupt");
        let cfg = SpoolConfig::new(&dir);
        {
            let mut s = Spool::open(cfg.clone()).unwrap();
            for i in 0..10 {
                s.append(format!("record {i}").as_bytes()).unwrap();
            }
            s.flush().unwrap();
        }
        let path = seg_path(&dir, 1);
        let mut data = fs::read(&path).unwrap();
        let rec = HEADER + "record 0".len();
        data[3 * rec + HEADER + 2] ^= 0xff; // flip a payload byte of record 3
        data.extend_from_slice(b"LSP1\x40\x00\x00\x00torn"); // a torn record at the end
        fs::write(&path, &data).unwrap();
        let mut s = Spool::open(cfg).unwrap();
        let got: Vec<String> = drain(&mut s)
            .into_iter()
            .map(|l| String::from_utf8(l).unwrap())
            .collect();
        let want: Vec<String> = (0..10)
            .filter(|&i| i != 3)
            .map(|i| format!("record {i}"))
            .collect();
        assert_eq!(got, want);
        assert_eq!(s.take_corrupt(), 1);
        let _ = fs::remove_dir_all(&dir);
    }
}
