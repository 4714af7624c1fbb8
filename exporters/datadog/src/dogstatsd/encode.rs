//! DogStatsD lines from a collection, named and tagged as Datadog's OpenMetrics check names and
//! tags the same registry when it scrapes it, so dashboards work with either path.

use std::sync::Arc;

use aiplatform_metrics::{LabelSet, MetricFamily, MetricKind, SeriesList};
use aiplatform_push::{
    Collection, Concatenated, Encoder, Framing, Point, PointValue, RecordWriter,
};

use super::telemetry::{Counters, FlushCounts, LastSent};
use crate::text::{push_python_float, push_tag, push_tag_value, push_value};

/// Writes a collection as DogStatsD metric lines (`name:value|type|#tags`), one record per
/// series, each line ending in `\n` (the transport packs lines into datagrams).
///
/// | registry | lines |
/// |---|---|
/// | counter `x` | `x.count:<increase>\|c` |
/// | gauge, untyped `x` | `x:<value>\|g` |
/// | histogram `x` | `x.count:<n>\|c`, `x.sum:<s>\|c`, and per finite bound `x.bucket:<n>\|c\|#upper_bound:<le>` (the increase of the cumulative bucket count; `+Inf` is `x.count`) |
/// | summary `x` | `x.count:<n>\|c`, `x.sum:<s>\|c`, `x.quantile:<v>\|g\|#quantile:<q>` |
///
/// Counts are the increase since the previous flush (the agent sums them, and a restarted
/// process does not look like a drop). Series that did not change since the previous flush
/// are left out, gauges excepted (their value stands). NaN and infinite values cannot be sent
/// and are left out. A line longer than a whole datagram is left out and counted
/// (`datadog.dogstatsd.client.metrics_dropped_too_long`).
///
/// Tags: the series' labels as `label:value` (empty values left out), the registry's constant
/// labels, then the global tags (`DD_TAGS`, `env`, `service`, `version`). `,`, `|`, `#` and
/// line breaks in values become `_`: they would break the line, and Datadog turns them into
/// `_` anyway.
pub struct DogStatsdEncoder {
    namespace: Vec<u8>,
    global_tags: Vec<u8>,
    timestamps: bool,
    max_line: usize,
    telemetry: Option<TelemetryState>,
    /// Per collection: constant labels then global tags, comma-joined.
    tail: Vec<u8>,
    /// Per family: `namespace.name`, the sanitized `label:` prefixes, the `upper_bound:`
    /// (or `quantile:`) tags.
    name: Vec<u8>,
    keys: Strings,
    floats: Strings,
    floats_of: Vec<f64>,
    /// Per series of a family without a series list: its label tags.
    stags: Vec<u8>,
    /// Per family: the start of its single-line series' lines, `namespace.name[.count]:`.
    prefix: Vec<u8>,
    /// The collection's tags (`tail`) the cached line ends were written with.
    tags_tail: Vec<u8>,
    /// Per registered family of the previous collection, by name: its series' label tags,
    /// kept while its series list stays (the usual case), so a flush writes no label twice.
    tags: Vec<FamilyTags>,
    spare_tags: Vec<FamilyTags>,
    flush: FlushCounts,
    warned_too_long: bool,
}

impl std::fmt::Debug for DogStatsdEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DogStatsdEncoder")
            .field("namespace", &String::from_utf8_lossy(&self.namespace))
            .field("global_tags", &String::from_utf8_lossy(&self.global_tags))
            .field("timestamps", &self.timestamps)
            .field("max_line", &self.max_line)
            .field("telemetry", &self.telemetry.is_some())
            .finish_non_exhaustive()
    }
}

struct TelemetryState {
    counters: Arc<Counters>,
    last: LastSent,
    tags: Vec<u8>,
}

/// The tags of a registered family's series, for as long as its series list stays. For a
/// counter, gauge or untyped family (one line per series), each series' whole line end after
/// the value: `|c` or `|g`, then `|#` and its label tags and the collection's tags, if any.
/// For a histogram or summary, its label tags only (the bucket or quantile tag goes between).
struct FamilyTags {
    name: Box<str>,
    list: SeriesList,
    ends: bool,
    tags: Strings,
}

/// Strings back to back with their ends.
#[derive(Debug, Default)]
struct Strings {
    text: Vec<u8>,
    ends: Vec<usize>,
}

impl Strings {
    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }

    fn end(&mut self) {
        self.ends.push(self.text.len());
    }

    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Count,
    Gauge,
}

impl DogStatsdEncoder {
    /// An encoder prefixing names with `namespace.` (none if empty), adding `global_tags`
    /// (`key:value` or bare) to every line, leaving out lines longer than `max_line` bytes,
    /// and with `timestamps`, appending `|T<unix seconds>` (agent 7.40+; the agent then
    /// passes the value through without aggregating it: only safe when no other process
    /// sends the same series to that agent).
    pub fn new(
        namespace: &str,
        global_tags: &[String],
        max_line: usize,
        timestamps: bool,
    ) -> DogStatsdEncoder {
        let mut ns = Vec::new();
        if !namespace.is_empty() {
            push_metric_name(&mut ns, namespace);
            ns.push(b'.');
        }
        let mut tags = Vec::new();
        for t in global_tags {
            if !tags.is_empty() {
                tags.push(b',');
            }
            push_tag_value(&mut tags, t);
        }
        DogStatsdEncoder {
            namespace: ns,
            global_tags: tags,
            timestamps,
            max_line,
            telemetry: None,
            tail: Vec::new(),
            name: Vec::new(),
            keys: Strings::default(),
            floats: Strings::default(),
            floats_of: Vec::new(),
            stags: Vec::new(),
            prefix: Vec::new(),
            tags_tail: Vec::new(),
            tags: Vec::new(),
            spare_tags: Vec::new(),
            flush: FlushCounts::default(),
            warned_too_long: false,
        }
    }

    /// Adds the client telemetry lines at the end of every flush.
    pub(crate) fn with_telemetry(mut self, counters: Arc<Counters>, transport: &str) -> Self {
        let mut tags = format!(
            "client:rust,client_version:{},client_transport:{transport}",
            env!("CARGO_PKG_VERSION")
        )
        .into_bytes();
        if !self.global_tags.is_empty() {
            tags.push(b',');
            tags.extend_from_slice(&self.global_tags);
        }
        self.telemetry = Some(TelemetryState {
            counters,
            last: LastSent::default(),
            tags,
        });
        self
    }

    fn start_family(&mut self, family: &MetricFamily) {
        self.name.clear();
        self.name.extend_from_slice(&self.namespace);
        push_metric_name(&mut self.name, family.name());
        self.prefix.clear();
        self.prefix.extend_from_slice(&self.name);
        if family.kind() == MetricKind::Counter {
            self.prefix.extend_from_slice(b".count");
        }
        self.prefix.push(b':');
        self.keys.clear();
        for label in family.label_names() {
            push_tag_value(&mut self.keys.text, label);
            self.keys.text.push(b':');
            self.keys.end();
        }
    }

    /// Makes `floats` the `key:value` tags of `values` (bounds or quantiles), kept while the
    /// list repeats: a histogram family shares one list.
    fn prepare_floats<I: Iterator<Item = f64>>(&mut self, key: &[u8], values: impl Fn() -> I) {
        if self.floats_of.iter().copied().eq(values())
            && self.floats.ends.len() == self.floats_of.len()
            && self.floats.text.starts_with(key)
        {
            return;
        }
        self.floats.clear();
        self.floats_of.clear();
        for v in values() {
            self.floats_of.push(v);
            self.floats.text.extend_from_slice(key);
            push_python_float(&mut self.floats.text, v);
            self.floats.end();
        }
    }

    /// Appends the label tags of a series with `labels`.
    fn series_tags(&self, labels: &LabelSet, out: &mut Vec<u8>) {
        let start = out.len();
        for i in 0..labels.len() {
            let v = labels.value(i);
            if v.is_empty() {
                continue;
            }
            if out.len() > start {
                out.push(b',');
            }
            out.extend_from_slice(self.keys.get(i));
            push_tag_value(out, v);
        }
    }

    /// The tags of every series of `family` (registered: it has a series list), from the
    /// previous collection when its list is the same; `prev` is that collection's entries not
    /// yet matched, by name.
    fn family_tags(
        &self,
        family: &MetricFamily,
        list: SeriesList,
        prev: &mut std::iter::Peekable<std::vec::Drain<'_, FamilyTags>>,
    ) -> FamilyTags {
        while prev.peek().is_some_and(|o| *o.name < *family.name()) {
            prev.next();
        }
        let mut tags = match prev.next_if(|o| *o.name == *family.name()) {
            Some(o) if family.has_series_of(&o.list) => return o,
            Some(o) => o.tags,
            None => Strings::default(),
        };
        tags.clear();
        let kind: &[u8] = match family.kind() {
            MetricKind::Counter => b"|c",
            MetricKind::Gauge | MetricKind::Unknown => b"|g",
            _ => b"",
        };
        let ends = !kind.is_empty();
        for i in 0..list.len() {
            let t = &mut tags.text;
            if ends {
                t.extend_from_slice(kind);
                t.extend_from_slice(b"|#");
            }
            let at = t.len();
            self.series_tags(list.labels(i), t);
            if ends {
                if !self.tail.is_empty() {
                    if t.len() > at {
                        t.push(b',');
                    }
                    t.extend_from_slice(&self.tail);
                }
                if t.len() == at {
                    t.truncate(at - 2);
                }
            }
            tags.end();
        }
        FamilyTags {
            name: family.name().into(),
            list,
            ends,
            tags,
        }
    }

    /// Writes a series of a counter, gauge or untyped family as one record of one line:
    /// `prefix`, the value, the cached line end `end`.
    fn single(
        &mut self,
        out: &mut RecordWriter<'_>,
        int: Option<u64>,
        float: f64,
        kind: Kind,
        end: &[u8],
        time_s: u64,
    ) {
        if int.is_none() && !float.is_finite() {
            return;
        }
        let buf = out.begin();
        let start = buf.len();
        buf.reserve(self.prefix.len() + 32 + end.len() + 24);
        buf.extend_from_slice(&self.prefix);
        match int {
            Some(i) => buf.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
            None => push_value(buf, float),
        }
        buf.extend_from_slice(end);
        if self.timestamps {
            buf.extend_from_slice(b"|T");
            buf.extend_from_slice(itoa::Buffer::new().format(time_s).as_bytes());
        }
        if buf.len() - start > self.max_line {
            out.discard();
            self.too_long(start);
            return;
        }
        buf.push(b'\n');
        match kind {
            Kind::Count => self.flush.counts += 1,
            Kind::Gauge => self.flush.gauges += 1,
        }
        self.flush.contexts += 1;
        out.finish(1, 1);
    }

    /// Writes the points of one family whose series' tags are `cached` (or read from each
    /// point's labels when there is none).
    fn family_points<'p>(
        &mut self,
        points: impl Iterator<Item = Point<'p>>,
        cached: Option<&FamilyTags>,
        time_s: u64,
        out: &mut RecordWriter<'_>,
    ) {
        for (i, p) in points.enumerate() {
            let gauge = matches!(p.value, PointValue::Gauge(_) | PointValue::Unknown(_));
            if !gauge && !p.changed() {
                continue;
            }
            match cached {
                Some(c) if c.ends => {
                    let end = c.tags.get(i);
                    match p.value {
                        PointValue::Gauge(v) | PointValue::Unknown(v) => {
                            self.single(out, None, v, Kind::Gauge, end, time_s);
                        }
                        PointValue::Counter(n) => {
                            self.single(out, n.as_u64(), n.as_f64(), Kind::Count, end, time_s);
                        }
                        // A family's points are all of its kind.
                        _ => debug_assert!(false, "a point of another kind than its family"),
                    }
                }
                Some(c) => self.series(&p, c.tags.get(i), time_s, out),
                None => {
                    let mut stags = std::mem::take(&mut self.stags);
                    stags.clear();
                    self.series_tags(p.labels, &mut stags);
                    self.series(&p, &stags, time_s, out);
                    self.stags = stags;
                }
            }
        }
    }

    /// Appends one line with the series' label tags `stags`; false (and nothing written)
    /// when it is too long or not finite.
    #[allow(clippy::too_many_arguments)]
    fn line(
        &mut self,
        buf: &mut Vec<u8>,
        suffix: &[u8],
        int: Option<u64>,
        float: f64,
        kind: Kind,
        stags: &[u8],
        extra: &[u8],
        time_s: u64,
    ) -> bool {
        if int.is_none() && !float.is_finite() {
            return false;
        }
        let start = buf.len();
        buf.extend_from_slice(&self.name);
        buf.extend_from_slice(suffix);
        buf.push(b':');
        match int {
            Some(i) => buf.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
            None => push_value(buf, float),
        }
        buf.extend_from_slice(match kind {
            Kind::Count => b"|c",
            Kind::Gauge => b"|g",
        });
        let mut first = true;
        for part in [stags, extra, &self.tail[..]] {
            if part.is_empty() {
                continue;
            }
            buf.extend_from_slice(if first { b"|#" } else { b"," });
            buf.extend_from_slice(part);
            first = false;
        }
        if self.timestamps {
            buf.extend_from_slice(b"|T");
            buf.extend_from_slice(itoa::Buffer::new().format(time_s).as_bytes());
        }
        if buf.len() - start > self.max_line {
            buf.truncate(start);
            self.too_long(start);
            return false;
        }
        buf.push(b'\n');
        match kind {
            Kind::Count => self.flush.counts += 1,
            Kind::Gauge => self.flush.gauges += 1,
        }
        true
    }

    fn too_long(&mut self, _at: usize) {
        if let Some(t) = &self.telemetry {
            t.counters
                .lines_too_long
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if !self.warned_too_long {
            self.warned_too_long = true;
            tracing::warn!(
                metric = %String::from_utf8_lossy(&self.name),
                max_bytes = self.max_line,
                "dogstatsd: a line is longer than a whole datagram and is not sent (counted in datadog.dogstatsd.client.metrics_dropped_too_long); shorten its tags or raise the payload size"
            );
        }
    }

    /// The `.count` and `.sum` lines of a histogram or summary; how many were written.
    fn count_and_sum(
        &mut self,
        buf: &mut Vec<u8>,
        count: u64,
        sum: f64,
        stags: &[u8],
        time_s: u64,
    ) -> u32 {
        let count = self.line(
            buf,
            b".count",
            Some(count),
            0.0,
            Kind::Count,
            stags,
            b"",
            time_s,
        );
        let sum = self.line(buf, b".sum", None, sum, Kind::Count, stags, b"", time_s);
        u32::from(count) + u32::from(sum)
    }

    /// Writes one series' lines, with its label tags `stags`, as one record.
    fn series(&mut self, p: &Point<'_>, stags: &[u8], time_s: u64, out: &mut RecordWriter<'_>) {
        let buf = out.begin();
        let mut lines = 0u32;
        match p.value {
            PointValue::Counter(c) => {
                lines += u32::from(self.line(
                    buf,
                    b".count",
                    c.as_u64(),
                    c.as_f64(),
                    Kind::Count,
                    stags,
                    b"",
                    time_s,
                ));
            }
            PointValue::Gauge(v) | PointValue::Unknown(v) => {
                lines += u32::from(self.line(buf, b"", None, v, Kind::Gauge, stags, b"", time_s));
            }
            PointValue::Histogram(h) => {
                lines += self.count_and_sum(buf, h.count, h.sum, stags, time_s);
                self.prepare_floats(b"upper_bound:", || h.bounds.iter().copied());
                let floats = std::mem::take(&mut self.floats);
                for (i, (_, n)) in h.cumulative().take(h.bounds.len()).enumerate() {
                    lines += u32::from(self.line(
                        buf,
                        b".bucket",
                        Some(n),
                        0.0,
                        Kind::Count,
                        stags,
                        floats.get(i),
                        time_s,
                    ));
                }
                self.floats = floats;
            }
            PointValue::Summary(s) => {
                lines += self.count_and_sum(buf, s.count, s.sum, stags, time_s);
                self.prepare_floats(b"quantile:", || s.quantiles().map(|(q, _)| q));
                let floats = std::mem::take(&mut self.floats);
                for (i, (_, v)) in s.quantiles().enumerate() {
                    lines += u32::from(self.line(
                        buf,
                        b".quantile",
                        None,
                        v,
                        Kind::Gauge,
                        stags,
                        floats.get(i),
                        time_s,
                    ));
                }
                self.floats = floats;
            }
        }
        if lines == 0 {
            out.discard();
        } else {
            self.flush.contexts += 1;
            out.finish(1, lines);
        }
    }

    fn telemetry(&mut self, out: &mut RecordWriter<'_>) {
        let flush = self.flush;
        let Some(t) = &mut self.telemetry else { return };
        let buf = out.begin();
        let mut n = 0;
        t.last.lines(&t.counters, flush, |name, extra, value| {
            buf.extend_from_slice(name.as_bytes());
            buf.push(b':');
            buf.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
            buf.extend_from_slice(b"|c|#");
            buf.extend_from_slice(&t.tags);
            if !extra.is_empty() {
                buf.push(b',');
                buf.extend_from_slice(extra.as_bytes());
            }
            buf.push(b'\n');
            n += 1;
        });
        out.finish(0, n);
    }
}

/// Appends a metric name with every byte outside Datadog's name alphabet (`A-Za-z0-9_.`) as
/// `_`, as Datadog would store it (a Prometheus `:` would also end the name in a DogStatsD
/// line).
pub(crate) fn push_metric_name(out: &mut Vec<u8>, name: &str) {
    out.extend(name.bytes().map(|b| {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' {
            b
        } else {
            b'_'
        }
    }));
}

impl Encoder for DogStatsdEncoder {
    fn encode(&mut self, collection: &Collection<'_>, out: &mut RecordWriter<'_>) {
        self.flush = FlushCounts::default();
        self.tail.clear();
        for (k, v) in collection.snapshot().const_labels().iter() {
            if v.is_empty() {
                continue;
            }
            if !self.tail.is_empty() {
                self.tail.push(b',');
            }
            push_tag(&mut self.tail, k, v);
        }
        if !self.global_tags.is_empty() {
            if !self.tail.is_empty() {
                self.tail.push(b',');
            }
            self.tail.extend_from_slice(&self.global_tags);
        }
        let time_s = collection.time_unix_nano() / 1_000_000_000;
        if self.tags_tail != self.tail {
            // The cached line ends hold the collection's tags.
            self.tags.clear();
            self.tags_tail.clone_from(&self.tail);
        }
        let mut old = std::mem::take(&mut self.tags);
        let mut next = std::mem::take(&mut self.spare_tags);
        next.clear();
        let mut prev = old.drain(..).peekable();
        for fp in collection.families() {
            if fp.is_empty() {
                continue;
            }
            let family = fp.family();
            self.start_family(family);
            let cached = family
                .series_list()
                .map(|list| self.family_tags(family, list, &mut prev));
            match &cached {
                Some(c) => self.family_points(fp.points_labels_unread(), Some(c), time_s, out),
                None => self.family_points(fp.points(), None, time_s, out),
            }
            next.extend(cached);
        }
        drop(prev);
        self.spare_tags = old;
        self.tags = next;
        self.telemetry(out);
    }

    fn framing(&self) -> Arc<dyn Framing> {
        Arc::new(Concatenated)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use aiplatform_metrics::{Buckets, Registry};
    use aiplatform_push::{Cycle, Temporality};

    use super::*;

    fn lines(cycle: &mut Cycle<DogStatsdEncoder>, at: u64) -> Vec<String> {
        let mut out = Vec::new();
        cycle.run_at(UNIX_EPOCH + Duration::from_secs(at), &mut |b| {
            out.extend_from_slice(&b.uncompressed().unwrap())
        });
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn cycle(r: &Registry, enc: DogStatsdEncoder) -> Cycle<DogStatsdEncoder> {
        Cycle::new(r, enc, Temporality::Delta, UNIX_EPOCH)
    }

    #[test]
    fn counters_gauges_histograms_summaries_as_the_openmetrics_check_names_them() {
        let r = Registry::builder()
            .const_label("region", "eu")
            .without_self_metrics()
            .build()
            .unwrap();
        let c = r
            .counter_family("http_requests_total", "R.", &["method", "path"])
            .unwrap();
        c.with(&["GET", "/a,b|c"]).inc_by(3);
        c.with(&["POST", ""]).inc();
        r.gauge("queue_depth", "Q.").unwrap().set(7.5);
        let h = r
            .histogram(
                "latency_seconds",
                "L.",
                Buckets::new([0.005, 1.0, 10.0]).unwrap(),
            )
            .unwrap();
        h.observe(0.5);
        h.observe(20.0);
        let enc = DogStatsdEncoder::new(
            "app",
            &["env:prod".into(), "service:api".into()],
            1432,
            false,
        );
        let mut cy = cycle(&r, enc);
        let got = lines(&mut cy, 100);
        assert_eq!(
            got,
            [
                "app.http_requests.count:3|c|#method:GET,path:/a_b_c,region:eu,env:prod,service:api",
                "app.http_requests.count:1|c|#method:POST,region:eu,env:prod,service:api",
                "app.latency_seconds.count:2|c|#region:eu,env:prod,service:api",
                "app.latency_seconds.sum:20.5|c|#region:eu,env:prod,service:api",
                "app.latency_seconds.bucket:0|c|#upper_bound:0.005,region:eu,env:prod,service:api",
                "app.latency_seconds.bucket:1|c|#upper_bound:1.0,region:eu,env:prod,service:api",
                "app.latency_seconds.bucket:1|c|#upper_bound:10.0,region:eu,env:prod,service:api",
                "app.queue_depth:7.5|g|#region:eu,env:prod,service:api",
            ]
        );
        // Increases only; unchanged counters and histograms are left out, gauges stay.
        c.with(&["GET", "/a,b|c"]).inc_by(2);
        h.observe(0.25);
        let got = lines(&mut cy, 110);
        assert_eq!(
            got,
            [
                "app.http_requests.count:2|c|#method:GET,path:/a_b_c,region:eu,env:prod,service:api",
                "app.latency_seconds.count:1|c|#region:eu,env:prod,service:api",
                "app.latency_seconds.sum:0.25|c|#region:eu,env:prod,service:api",
                "app.latency_seconds.bucket:0|c|#upper_bound:0.005,region:eu,env:prod,service:api",
                "app.latency_seconds.bucket:1|c|#upper_bound:1.0,region:eu,env:prod,service:api",
                "app.latency_seconds.bucket:1|c|#upper_bound:10.0,region:eu,env:prod,service:api",
                "app.queue_depth:7.5|g|#region:eu,env:prod,service:api",
            ]
        );
    }

    #[test]
    fn timestamps_only_when_asked_and_nan_left_out() {
        let r = Registry::builder().without_self_metrics().build().unwrap();
        r.counter("jobs_total", "J.").unwrap().inc();
        r.gauge("ratio", "R.").unwrap().set(f64::NAN);
        r.gauge("temp", "T.").unwrap().set(-1.25);
        let got = lines(
            &mut cycle(&r, DogStatsdEncoder::new("", &[], 1432, true)),
            1_700_000_000,
        );
        assert_eq!(
            got,
            ["jobs.count:1|c|T1700000000", "temp:-1.25|g|T1700000000"]
        );
        let got = lines(
            &mut cycle(&r, DogStatsdEncoder::new("", &[], 1432, false)),
            5,
        );
        assert_eq!(got, ["jobs.count:1|c", "temp:-1.25|g"]);
    }

    #[test]
    fn lines_longer_than_a_datagram_are_left_out_and_counted() {
        let r = Registry::builder().without_self_metrics().build().unwrap();
        let f = r.gauge_family("g", "G.", &["k"]).unwrap();
        f.with(&["short"]).set(1.0);
        f.with(&["x".repeat(200)]).set(2.0);
        let counters = Arc::new(Counters::default());
        let enc =
            DogStatsdEncoder::new("", &[], 100, false).with_telemetry(counters.clone(), "udp");
        let got = lines(&mut cycle(&r, enc), 5);
        assert_eq!(got[0], "g:1|g|#k:short");
        assert!(
            got.contains(&"datadog.dogstatsd.client.metrics_dropped_too_long:1|c|#client:rust,client_version:0.1.0,client_transport:udp".to_owned()),
            "{got:#?}"
        );
        assert!(got.contains(&"datadog.dogstatsd.client.metrics:1|c|#client:rust,client_version:0.1.0,client_transport:udp".to_owned()));
    }

    #[test]
    fn label_tags_follow_added_removed_and_reregistered_series() {
        let r = Registry::builder().without_self_metrics().build().unwrap();
        let g = r.gauge_family("load", "L.", &["host"]).unwrap();
        g.with(&["b"]).set(2.0);
        g.with(&["c"]).set(3.0);
        let u = r.gauge_family("up", "U.", &["zone"]).unwrap();
        u.with(&["z1"]).set(1.0);
        let mut cy = cycle(&r, DogStatsdEncoder::new("", &[], 1432, false));
        let want = ["load:2|g|#host:b", "load:3|g|#host:c", "up:1|g|#zone:z1"];
        assert_eq!(lines(&mut cy, 1), want);
        // Same series lists: the tags kept from the previous flush.
        assert_eq!(lines(&mut cy, 2), want);
        g.with(&["a"]).set(1.0);
        assert!(g.remove(&["c"]));
        assert_eq!(
            lines(&mut cy, 3),
            ["load:1|g|#host:a", "load:2|g|#host:b", "up:1|g|#zone:z1"]
        );
        // The same name registered again with other label names.
        assert!(r.unregister("up"));
        let u = r.gauge_family("up", "U.", &["region", "az"]).unwrap();
        u.with(&["eu", "1a"]).set(1.0);
        u.with(&["us", ""]).set(0.0);
        assert_eq!(
            lines(&mut cy, 4),
            [
                "load:1|g|#host:a",
                "load:2|g|#host:b",
                "up:1|g|#region:eu,az:1a",
                "up:0|g|#region:us",
            ]
        );
    }

    #[test]
    fn names_keep_only_datadogs_alphabet() {
        let mut out = Vec::new();
        push_metric_name(&mut out, "job:rate5m-x.y");
        assert_eq!(out, b"job_rate5m_x.y");
    }
}
