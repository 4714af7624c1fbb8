//! The shipper thread: batches lines onto the connection, tracks which are confirmed,
//! reconnects, resends, and spills to the spool. The docs of `LogstashConfig` describe the
//! guarantees; this file implements them.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;

use super::LogstashConfig;
use super::conn::Conn;
use crate::metrics::DropReason;
use crate::notice::Notice;
use crate::queue::Queue;
use crate::sink::backoff::Backoff;
use crate::sink::worker::Control;
use crate::spares::LINES;
use crate::spool::{Spool, SpoolPos};

/// Bytes written per batch (one `write` on the socket, one TLS flush).
const BATCH: usize = 64 * 1024;

#[derive(Debug)]
struct Entry {
    line: Vec<u8>,
    /// Socket byte count after this line's batch was written on the current connection.
    end: u64,
    acked_at: Option<Instant>,
    /// Where it is in the spool, if it came from there.
    pos: Option<SpoolPos>,
    sent: bool,
    /// Came through the memory queue (and so counts toward flushes).
    queued: bool,
}

impl Entry {
    fn new(line: Vec<u8>, pos: Option<SpoolPos>, queued: bool) -> Entry {
        Entry {
            line,
            end: 0,
            acked_at: None,
            pos,
            sent: false,
            queued,
        }
    }
}

pub(super) struct Shipper {
    cfg: LogstashConfig,
    tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    spool: Option<Spool>,
    q: Arc<Queue>,
    control: Arc<Control>,
    conn: Option<Conn>,
    /// Unconfirmed lines in order; `pending[..next_write]` are written on this connection.
    pending: VecDeque<Entry>,
    pending_bytes: usize,
    next_write: usize,
    backoff: Backoff,
    next_attempt: Instant,
    connected_once: bool,
    down_since: Option<Instant>,
    wbuf: Vec<u8>,
    notice: Notice,
}

impl Shipper {
    pub(super) fn new(
        cfg: LogstashConfig,
        tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
        spool: Option<Spool>,
        q: Arc<Queue>,
        control: Arc<Control>,
        notice: Notice,
    ) -> Shipper {
        Shipper {
            backoff: Backoff::new(cfg.backoff_initial, cfg.backoff_max),
            cfg,
            tls,
            spool,
            q,
            control,
            conn: None,
            pending: VecDeque::new(),
            pending_bytes: 0,
            next_write: 0,
            next_attempt: Instant::now(),
            connected_once: false,
            down_since: Some(Instant::now()),
            wbuf: Vec::with_capacity(BATCH),
            notice,
        }
    }

    pub(super) fn run(mut self) {
        loop {
            let deadline = self.control.shutdown_deadline();
            let shutting = deadline.is_some();
            if let Some(d) = deadline {
                if self.idle() {
                    break;
                }
                if Instant::now() >= d {
                    self.give_up_at_deadline();
                    break;
                }
            }
            self.report();
            if self.conn.is_none() {
                if Instant::now() >= self.next_attempt {
                    self.connect();
                }
                if self.conn.is_none() {
                    self.while_down(shutting);
                    let wait = self.next_attempt.saturating_duration_since(Instant::now());
                    std::thread::sleep(
                        wait.clamp(Duration::from_millis(1), Duration::from_millis(10)),
                    );
                    continue;
                }
            }
            let progressed = self.fill_and_write();
            self.confirm(shutting);
            if !progressed {
                self.wait_for_work();
            }
        }
        self.report();
        if let Some(s) = &mut self.spool {
            let _ = s.persist();
        }
    }

    fn idle(&self) -> bool {
        self.q.rx().is_empty()
            && self.pending.is_empty()
            && self.spool.as_ref().is_none_or(|s| !s.has_unread())
    }

    fn spool_mode(&self) -> bool {
        self.spool.as_ref().is_some_and(Spool::has_unread)
    }

    fn connect(&mut self) {
        match Conn::connect(
            &self.cfg.addr,
            self.cfg.connect_timeout,
            self.cfg.write_timeout,
            self.tls.as_ref(),
        ) {
            Ok(c) => {
                if self.connected_once {
                    self.q.metrics.reconnects.inc();
                }
                self.connected_once = true;
                self.conn = Some(c);
                self.backoff.reset();
                self.down_since = None;
                self.next_write = 0;
            }
            Err(_) => {
                self.next_attempt = Instant::now() + self.backoff.next_delay();
            }
        }
    }

    /// The connection broke: everything unconfirmed will be written again on the next one.
    fn disconnect(&mut self) {
        self.conn = None;
        for e in &mut self.pending {
            e.acked_at = None;
        }
        self.next_write = 0;
        self.down_since = Some(Instant::now());
        self.next_attempt = Instant::now();
    }

    /// Takes a line from the memory queue.
    fn accept(&mut self, line: Vec<u8>) {
        if self.spool_mode() {
            self.spool_line(&line);
            self.q.done(1);
        } else {
            self.pending_bytes += line.len();
            self.pending.push_back(Entry::new(line, None, true));
        }
    }

    fn spool_line(&mut self, line: &[u8]) {
        let Some(spool) = &mut self.spool else { return };
        match spool.append(line) {
            Ok(true) => {}
            Ok(false) => self.q.metrics.dropped(DropReason::SpoolFull, 1),
            Err(_) => self.q.metrics.dropped(DropReason::IoError, 1),
        }
    }

    /// Pulls new lines (memory or spool) and writes one batch. Returns whether it did anything.
    fn fill_and_write(&mut self) -> bool {
        let max = self.cfg.max_unconfirmed_bytes;
        if self.spool_mode() {
            let queued: Vec<Vec<u8>> = self.q.rx().try_iter().collect();
            let n = queued.len() as u64;
            for l in queued {
                self.spool_line(&l);
            }
            self.q.done(n);
            let mut budget = 0;
            while self.pending_bytes < max && budget < BATCH {
                let Some(spool) = &mut self.spool else { break };
                match spool.read_next() {
                    Ok(Some((line, pos))) => {
                        budget += line.len();
                        self.pending_bytes += line.len();
                        self.pending.push_back(Entry::new(line, Some(pos), false));
                    }
                    Ok(None) => break,
                    Err(_) => {
                        self.q.metrics.dropped(DropReason::IoError, 1);
                        break;
                    }
                }
            }
        } else {
            let mut budget = 0;
            while self.pending_bytes < max && budget < BATCH {
                match self.q.rx().try_recv() {
                    Ok(line) => {
                        budget += line.len();
                        self.accept(line);
                    }
                    Err(_) => break,
                }
            }
        }
        if self.next_write >= self.pending.len() {
            return false;
        }
        self.wbuf.clear();
        let mut k = self.next_write;
        while k < self.pending.len()
            && (k == self.next_write || self.wbuf.len() + self.pending[k].line.len() <= BATCH)
        {
            self.wbuf.extend_from_slice(&self.pending[k].line);
            k += 1;
        }
        let Some(conn) = &mut self.conn else {
            return false;
        };
        match conn.send(&self.wbuf) {
            Ok(()) => {
                let end = conn.written();
                let mut resent = 0;
                for e in self.pending.range_mut(self.next_write..k) {
                    e.end = end;
                    if e.sent {
                        resent += 1;
                    }
                    e.sent = true;
                }
                if resent > 0 {
                    self.q.metrics.resent.inc_by(resent);
                }
                self.next_write = k;
            }
            Err(_) => {
                for e in self.pending.range_mut(self.next_write..k) {
                    e.sent = true;
                }
                self.disconnect();
            }
        }
        true
    }

    /// Confirms written lines the peer acknowledged long enough ago on a live connection.
    fn confirm(&mut self, shutting: bool) {
        let Some(conn) = &mut self.conn else { return };
        if self.next_write == 0 {
            return;
        }
        let written = conn.written();
        let acked_upto = conn
            .unacked()
            .map_or(written, |u| written.saturating_sub(u));
        let now = Instant::now();
        for e in self.pending.range_mut(..self.next_write) {
            if e.acked_at.is_none() {
                if e.end > acked_upto {
                    break;
                }
                e.acked_at = Some(now);
            }
        }
        let linger = if shutting {
            Duration::ZERO
        } else {
            self.cfg.confirm_after
        };
        let max = self.cfg.max_unconfirmed_bytes;
        let ready = |e: &Entry, bytes: usize| {
            e.acked_at
                .is_some_and(|t| now.duration_since(t) >= linger || bytes > max)
        };
        if !self
            .pending
            .front()
            .is_some_and(|e| ready(e, self.pending_bytes))
        {
            return;
        }
        if !conn.alive() {
            self.disconnect();
            return;
        }
        let mut done = 0;
        while self.next_write > 0 {
            let Some(e) = self.pending.front() else { break };
            if !ready(e, self.pending_bytes) {
                break;
            }
            let e = self.pending.pop_front().expect("front exists");
            self.next_write -= 1;
            self.pending_bytes -= e.line.len();
            match (e.pos, &mut self.spool) {
                (Some(pos), Some(spool)) => spool.confirm(pos),
                _ if e.queued => done += 1,
                _ => {}
            }
            LINES.give_back(e.line);
        }
        self.q.done(done);
    }

    /// While Logstash is unreachable: move lines to the spool once the outage is long enough
    /// (or the memory queue is half full, or we are shutting down).
    fn while_down(&mut self, shutting: bool) {
        if self.spool.is_none() {
            return;
        }
        let long = self
            .down_since
            .is_some_and(|t| t.elapsed() >= self.cfg.spill_after);
        let crowded = self.q.rx().len() * 2 >= self.q.capacity();
        if long || crowded || shutting || self.spool_mode() {
            self.spill();
        }
    }

    /// Moves every unconfirmed and queued line to the spool, keeping their order.
    fn spill(&mut self) {
        let Some(spool) = &mut self.spool else { return };
        spool.rewind();
        let memory: Vec<Entry> = self.pending.drain(..).filter(|e| e.pos.is_none()).collect();
        self.pending_bytes = 0;
        self.next_write = 0;
        let n = memory.iter().filter(|e| e.queued).count() as u64;
        for e in memory {
            self.spool_line(&e.line);
        }
        self.q.done(n);
        let queued: Vec<Vec<u8>> = self.q.rx().try_iter().collect();
        let n = queued.len() as u64;
        for l in queued {
            self.spool_line(&l);
        }
        self.q.done(n);
        if let Some(spool) = &mut self.spool {
            // A failed flush surfaces again as an error on the next append or read.
            let _ = spool.flush();
        }
    }

    fn give_up_at_deadline(&mut self) {
        if self.spool.is_some() {
            self.spill();
            return;
        }
        let memory = self.pending.iter().filter(|e| e.queued).count() as u64;
        self.pending.clear();
        self.q.metrics.dropped(DropReason::Shutdown, memory);
        self.q.done(memory);
        self.q.drain_dropped(DropReason::Shutdown);
    }

    fn wait_for_work(&mut self) {
        let blocked = self.pending_bytes >= self.cfg.max_unconfirmed_bytes || self.spool_mode();
        if blocked || self.next_write < self.pending.len() {
            std::thread::sleep(Duration::from_millis(5));
            return;
        }
        match self.q.rx().recv_timeout(Duration::from_millis(20)) {
            Ok(line) => self.accept(line),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {}
        }
    }

    fn report(&mut self) {
        self.q.metrics.depth.set(self.q.rx().len() as f64);
        if let Some(line) = self.notice.poll(&self.q.metrics, false) {
            if self.spool_mode() {
                self.spool_line(&line);
            } else {
                self.pending_bytes += line.len();
                // Not from the queue: confirming it must not count toward a flush.
                self.pending.push_back(Entry::new(line, None, false));
            }
        }
        if let Some(s) = &mut self.spool {
            self.q.metrics.spool_bytes.set(s.bytes() as f64);
            let c = s.take_corrupt();
            if c > 0 {
                self.q.metrics.dropped(DropReason::SpoolCorrupt, c);
            }
        }
    }
}
