//! The one writer behind both text formats.
//!
//! Per family, the parts every line shares (`name_suffix{const="..",` and the closing `} `)
//! are prepared once; per series, a line is those parts around the series' pre-escaped label
//! text and a formatted number, written through a [`Cursor`].

use crate::desc::MetricKind;
use crate::encoding::ExpositionFormat;
use crate::encoding::cursor::Cursor;
use crate::encoding::float::{as_exact_int, write_label_float, write_value};
use crate::snapshot::{MetricFamily, Point, Snapshot, Value};

const NO_TS: i64 = i64::MIN;

/// Buffers reused across families and calls.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// `le` values of the family's shared bounds, formatted once per family.
    le: LeValues,
    quantile: Vec<u8>,
    /// Line openings (`name_suffix{consts,`) for the suffixes of the current family.
    open: [Vec<u8>; 3],
    /// Family indices in text-name order, when that differs from the snapshot's.
    order: Vec<usize>,
}

/// The `le` label values of one histogram's bounds, formatted once.
#[derive(Debug, Default)]
struct LeValues {
    text: Vec<u8>,
    ends: Vec<usize>,
}

impl LeValues {
    fn prepare(&mut self, bounds: &[f64], om: bool) {
        self.text.clear();
        self.ends.clear();
        for &b in bounds {
            write_label_float(b, om, &mut self.text);
            self.ends.push(self.text.len());
        }
        self.text.extend_from_slice(b"+Inf");
        self.ends.push(self.text.len());
    }

    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }
}

/// Shape of a family's lines: whether they carry braces, and the pieces around label text.
struct Shape<'a> {
    consts: &'a [u8],
    has_labels: bool,
}

impl Shape<'_> {
    fn braces(&self) -> bool {
        !self.consts.is_empty() || self.has_labels
    }

    /// `name` + `suffix` + (`{` + consts + `,` when both consts and labels are present).
    fn open(&self, name: &[u8], suffix: &[u8], into: &mut Vec<u8>) {
        into.clear();
        into.extend_from_slice(name);
        into.extend_from_slice(suffix);
        if self.braces() {
            into.push(b'{');
            into.extend_from_slice(self.consts);
            if !self.consts.is_empty() && self.has_labels {
                into.push(b',');
            }
        }
    }

    fn close(&self) -> &'static [u8] {
        if self.braces() { b"} " } else { b" " }
    }
}

pub(crate) fn write_snapshot(
    s: &Snapshot,
    format: ExpositionFormat,
    out: &mut Vec<u8>,
    scratch: &mut Scratch,
) {
    let consts = s.const_labels.rendered().as_bytes();
    let fams = &s.families;
    // Text 0.0.4 names a counter family `x_total`, so it goes where client_golang sorts
    // that name (`x_seconds` < `x_total`), not where the family name `x` would.
    let text_sorted = format == ExpositionFormat::OpenMetrics
        || fams.windows(2).all(|w| text_order(&w[0], &w[1]).is_le());
    if text_sorted {
        for f in fams {
            if !f.is_empty() {
                write_family(f, consts, format, out, scratch);
            }
        }
    } else {
        let mut order = std::mem::take(&mut scratch.order);
        order.clear();
        order.extend(0..fams.len());
        order.sort_by(|&a, &b| text_order(&fams[a], &fams[b]));
        for &i in &order {
            if !fams[i].is_empty() {
                write_family(&fams[i], consts, format, out, scratch);
            }
        }
        scratch.order = order;
    }
    if format == ExpositionFormat::OpenMetrics {
        out.extend_from_slice(b"# EOF\n");
    }
}

/// Families in the order of their text 0.0.4 names (a counter's with `_total`).
fn text_order(a: &MetricFamily, b: &MetricFamily) -> std::cmp::Ordering {
    fn name(f: &MetricFamily) -> impl Iterator<Item = u8> + '_ {
        let d = &f.desc;
        d.name
            .bytes()
            .chain(d.counter_suffix(false).iter().copied())
    }
    name(a).cmp(name(b))
}

fn write_metadata(f: &MetricFamily, format: ExpositionFormat, out: &mut Vec<u8>) {
    let desc = &f.desc;
    let om = format == ExpositionFormat::OpenMetrics;
    // Text 0.0.4 names a counter family by its sample name; OpenMetrics by the bare name.
    let suffix = if om { b"" } else { desc.counter_suffix(false) };
    let meta = |out: &mut Vec<u8>, what: &[u8], body: &[u8]| {
        out.extend_from_slice(what);
        out.extend_from_slice(desc.name.as_bytes());
        out.extend_from_slice(suffix);
        out.push(b' ');
        out.extend_from_slice(body);
        out.push(b'\n');
    };
    let help = if om { &desc.help_om } else { &desc.help_text };
    if !om && !desc.help.is_empty() {
        meta(out, b"# HELP ", help.as_bytes());
    }
    let kind = if om {
        desc.kind.openmetrics_name()
    } else {
        desc.kind.text_name()
    };
    meta(out, b"# TYPE ", kind.as_bytes());
    if om {
        if let Some(unit) = &desc.unit {
            meta(out, b"# UNIT ", unit.as_str().as_bytes());
        }
        if !desc.help.is_empty() {
            meta(out, b"# HELP ", help.as_bytes());
        }
    }
}

fn write_family(
    f: &MetricFamily,
    consts: &[u8],
    format: ExpositionFormat,
    out: &mut Vec<u8>,
    scratch: &mut Scratch,
) {
    write_metadata(f, format, out);
    let om = format == ExpositionFormat::OpenMetrics;
    let shape = Shape {
        consts,
        has_labels: !f.desc.label_names.is_empty(),
    };
    let name = f.desc.name.as_bytes();
    let close = shape.close();
    match f.desc.kind {
        MetricKind::Counter => {
            shape.open(name, f.desc.counter_suffix(om), &mut scratch.open[0]);
            let open = &scratch.open[0];
            let mut c = Cursor::new(out, 0);
            f.for_each_rendered(|labels, p| {
                let exact = p.b == 0.0;
                if exact && p.ts == NO_TS {
                    simple_line(
                        &mut c,
                        [open, labels, close],
                        itoa::Buffer::new().format(p.a).as_bytes(),
                    );
                    return;
                }
                let total = p.a as f64 + p.b;
                if om && !exact && (total.is_nan() || total < 0.0) {
                    return;
                }
                c.put(open);
                c.put(labels);
                c.put(close);
                if exact {
                    c.put_u64(p.a);
                } else {
                    write_value(total, c.vec());
                    c.resync();
                }
                end(&mut c, p.ts, om);
            });
        }
        MetricKind::Gauge | MetricKind::Unknown => {
            shape.open(name, b"", &mut scratch.open[0]);
            let open = &scratch.open[0];
            let mut c = Cursor::new(out, 0);
            f.for_each_rendered(|labels, p| {
                let v = p.b;
                let exact = as_exact_int(v);
                if let (Some(int), NO_TS) = (exact, p.ts) {
                    simple_line(
                        &mut c,
                        [open, labels, close],
                        itoa::Buffer::new().format(int).as_bytes(),
                    );
                    return;
                }
                c.put(open);
                c.put(labels);
                c.put(close);
                if let Some(int) = exact {
                    c.put_i64(int);
                } else {
                    write_value(v, c.vec());
                    c.resync();
                }
                end(&mut c, p.ts, om);
            });
        }
        MetricKind::Histogram | MetricKind::Summary => {
            write_distributions(f, &shape, om, out, scratch)
        }
    }
}

/// Histograms and summaries: several lines per series, with an extra `le`/`quantile` label.
fn write_distributions(
    f: &MetricFamily,
    shape: &Shape<'_>,
    om: bool,
    out: &mut Vec<u8>,
    scratch: &mut Scratch,
) {
    let name = f.desc.name.as_bytes();
    let histogram = f.desc.kind == MetricKind::Histogram;
    // The extra label always adds braces, and a comma when anything precedes it.
    let with_extra = Shape {
        consts: shape.consts,
        has_labels: true,
    };
    let Scratch {
        le,
        quantile,
        open: [first, sum, count],
        ..
    } = scratch;
    with_extra.open(name, if histogram { b"_bucket" } else { b"" }, first);
    shape.open(name, b"_sum", sum);
    shape.open(name, b"_count", count);
    let (first, sum, count) = (&*first, &*sum, &*count);
    let extra_name: &[u8] = if histogram { b"le=\"" } else { b"quantile=\"" };
    let shared = f.bounds.is_some();
    if let Some(bounds) = f.bounds.as_deref().filter(|_| histogram) {
        le.prepare(bounds, om);
    }
    let close = shape.close();
    for (i, p) in f.points.iter().enumerate() {
        let labels = f.labels_at(i).rendered().as_bytes();
        let extra_sep: &[u8] = if shape.has_labels { b"," } else { b"" };
        let line = |out: &mut Vec<u8>, extra: &[u8], write: &mut dyn FnMut(&mut Cursor<'_>)| {
            let mut c = Cursor::new(out, first.len() + labels.len() + extra.len() + 48);
            c.put(first);
            c.put(labels);
            c.put(extra_sep);
            c.put(extra_name);
            c.put(extra);
            c.put(b"\"} ");
            write(&mut c);
            end(&mut c, p.ts, om);
        };
        let (total_count, total_sum, negative_bounds) = match f.value_at(p) {
            Value::Histogram(h) => {
                if !shared_bounds(p, shared) {
                    le.prepare(h.bounds(), om);
                }
                for (b, (_, cumulative)) in h.cumulative().enumerate() {
                    line(out, le.get(b), &mut |c| c.put_u64(cumulative));
                }
                (h.count, h.sum, h.bounds().first().is_some_and(|&b| b < 0.0))
            }
            Value::Summary(s) => {
                for (q, v) in s.quantiles() {
                    quantile.clear();
                    write_label_float(q, om, quantile);
                    line(out, quantile, &mut |c| {
                        write_value(v, c.vec());
                        c.resync();
                    });
                }
                (s.count, s.sum, false)
            }
            _ => unreachable!("distribution families hold histograms or summaries"),
        };
        // OpenMetrics treats `_sum` as a counter: it must not be NaN or negative, and must be
        // absent when buckets have negative bounds; `_count` goes with it.
        if om && (negative_bounds || total_sum.is_nan() || total_sum < 0.0) {
            continue;
        }
        let mut c = Cursor::new(out, sum.len() + labels.len() + 32);
        c.put(sum);
        c.put(labels);
        c.put(close);
        write_value(total_sum, c.vec());
        c.resync();
        end(&mut c, p.ts, om);
        c.put(count);
        c.put(labels);
        c.put(close);
        c.put_u64(total_count);
        end(&mut c, p.ts, om);
    }
}

/// The common line: its three leading pieces, a number, a line feed; one reservation.
#[inline(always)]
fn simple_line(c: &mut Cursor<'_>, head: [&[u8]; 3], number: &[u8]) {
    c.reserve(head.iter().map(|h| h.len()).sum::<usize>() + number.len() + 1);
    // SAFETY: the reservation just made covers these five pieces exactly.
    unsafe {
        for piece in head {
            c.put_reserved(piece);
        }
        c.put_reserved(number);
        c.put_reserved(b"\n");
    }
}

fn shared_bounds(p: &Point, family_has_shared: bool) -> bool {
    family_has_shared && p.fstart == u32::MAX
}

/// The optional timestamp and the line end: milliseconds in text 0.0.4, seconds in
/// OpenMetrics.
#[inline(always)]
fn end(c: &mut Cursor<'_>, ts: i64, om: bool) {
    if ts != NO_TS {
        c.put(b" ");
        if om {
            let (secs, ms) = (ts.div_euclid(1000), ts.rem_euclid(1000));
            c.put_i64(secs);
            c.put(&[
                b'.',
                b'0' + (ms / 100) as u8,
                b'0' + (ms / 10 % 10) as u8,
                b'0' + (ms % 10) as u8,
            ]);
        } else {
            c.put_i64(ts);
        }
    }
    c.put(b"\n");
}
