//! Label values of one series, escaped for exposition once, when the series is created.

pub(crate) mod key;

use std::cmp::Ordering;

pub use key::{Lookup, ValueKey};
use key::{Mixer, same_value, seed, value_key};
pub(crate) use key::{Query, hash_values};

/// The label values of one series, plus their exposition text.
///
/// The text `name="value",...` (without braces) is rendered when the series is created, with
/// `\`, `"` and line feeds escaped as both Prometheus text 0.0.4 and OpenMetrics require, so an
/// encoder only copies bytes.
///
/// ```
/// use aiplatform_metrics::LabelSet;
///
/// let set = LabelSet::new(&["path", "note"], &["/a\"b", "line\nbreak"]);
/// assert_eq!(set.value(0), "/a\"b");
/// assert_eq!(set.rendered(), r#"path="/a\"b",note="line\nbreak""#);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LabelSet {
    /// The rendered text followed by the raw values, back to back.
    text: Box<str>,
    /// Length of the rendered text.
    rendered_len: u32,
    /// Per value: its key (for lookups) and where it starts in `text`.
    values: Box<[StoredValue]>,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct StoredValue {
    key: ValueKey,
    start: u32,
}

impl LabelSet {
    /// Renders `names[i]="values[i]"` pairs. Names are assumed valid (families check them).
    ///
    /// # Panics
    ///
    /// If `names` and `values` differ in length, or the text exceeds 4 GiB.
    pub fn new<N: AsRef<str>, V: AsRef<str>>(names: &[N], values: &[V]) -> LabelSet {
        assert_eq!(names.len(), values.len(), "one value per label name");
        let mut text = String::new();
        for (i, (n, v)) in names.iter().zip(values).enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(n.as_ref());
            text.push_str("=\"");
            escape_label_value(v.as_ref(), &mut text);
            text.push('"');
        }
        let rendered_len = len32(&text);
        let values = append_values(&mut text, values);
        LabelSet {
            text: text.into_boxed_str(),
            rendered_len,
            values,
        }
    }

    /// The values' keys and text, without exposition text (for [`LabelKey`]).
    fn unrendered<V: AsRef<str>>(values: &[V]) -> LabelSet {
        let mut text = String::new();
        let values = append_values(&mut text, values);
        LabelSet {
            text: text.into_boxed_str(),
            rendered_len: 0,
            values,
        }
    }

    /// A set with no labels.
    pub fn empty() -> LabelSet {
        LabelSet {
            text: Box::from(""),
            rendered_len: 0,
            values: Box::new([]),
        }
    }

    /// Number of label values.
    #[inline]
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the set has no labels.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The `i`th value, in the order of the family's label names.
    ///
    /// # Panics
    ///
    /// If `i >= self.len()`.
    #[inline]
    pub fn value(&self, i: usize) -> &str {
        // SAFETY: the constructors append every value whole to `text`, a `str`: the range
        // starts and ends at character boundaries.
        unsafe { std::str::from_utf8_unchecked(self.value_bytes(i)) }
    }

    /// The bytes of value `i`, without the `str` boundary checks.
    #[inline(always)]
    fn value_bytes(&self, i: usize) -> &[u8] {
        let v = &self.values[i];
        let range = v.start as usize..(v.start + v.key.len) as usize;
        // SAFETY: `start..start + len` is where the constructor wrote this value in `text`.
        unsafe { self.text.as_bytes().get_unchecked(range) }
    }

    /// Asks the processor to start loading the text and values, which live apart from the set
    /// on the heap. Purely a performance hint.
    #[inline(always)]
    pub(crate) fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            // SAFETY: prefetching has no architectural effect and never faults.
            unsafe {
                _mm_prefetch(self.text.as_ptr().cast::<i8>(), _MM_HINT_T0);
                _mm_prefetch(self.values.as_ptr().cast::<i8>(), _MM_HINT_T0);
            }
        }
    }

    /// All values, in the order of the family's label names.
    #[inline]
    pub fn values(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.value(i))
    }

    /// The escaped `name="value",...` text, without braces; empty for no labels.
    pub fn rendered(&self) -> &str {
        &self.text[..self.rendered_len as usize]
    }

    /// Whether the values equal the lookup's, in order.
    #[inline(always)]
    pub(crate) fn matches<L: Lookup + ?Sized>(&self, q: &L) -> bool {
        let n = q.len();
        if n != self.values.len() {
            return false;
        }
        for (i, stored) in self.values.iter().enumerate() {
            let same = match q.key(i) {
                Some(key) => same_value(
                    &stored.key,
                    || self.value_bytes(i),
                    key,
                    || q.value(i).as_bytes(),
                ),
                None => self.value_bytes(i) == q.value(i).as_bytes(),
            };
            if !same {
                return false;
            }
        }
        true
    }

    /// Whether the values equal `values`, in order (computes the query first).
    pub(crate) fn matches_values<V: AsRef<str>>(&self, values: &[V]) -> bool {
        self.matches(&Query::new(values))
    }
}

/// Label values prepared for repeated lookups: condensed and hashed once, as `metrics::Key`
/// precomputes its hash. A lookup with a `LabelKey` skips hashing the values; the series it
/// finds is still identified by comparing every value.
///
/// ```
/// use aiplatform_metrics::{LabelKey, Registry};
///
/// let registry = Registry::new();
/// let requests = registry.counter_family("jobs_total", "Jobs.", &["queue", "outcome"]).unwrap();
/// let done = LabelKey::new(&["emails", "done"]);
/// requests.apply(&done, |c| c.inc());
/// requests.with(&["emails", "done"]).inc();
/// assert_eq!(requests.with(&done).get(), 2.0);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LabelKey {
    set: LabelSet,
    hash: u64,
}

impl LabelKey {
    /// Prepares `values` (in the order of the family's label names).
    pub fn new<V: AsRef<str>>(values: &[V]) -> LabelKey {
        let set = LabelSet::unrendered(values);
        let mut mixer = Mixer::new(seed(), set.values.len());
        for v in set.values.iter() {
            mixer.add(&v.key);
        }
        LabelKey {
            hash: mixer.finish(),
            set,
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// The values.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.set.values()
    }
}

impl std::fmt::Debug for LabelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.values()).finish()
    }
}

impl Lookup for LabelKey {
    #[inline(always)]
    fn hash(&self) -> u64 {
        self.hash
    }

    #[inline(always)]
    fn len(&self) -> usize {
        self.set.len()
    }

    #[inline(always)]
    fn value(&self, i: usize) -> &str {
        self.set.value(i)
    }

    #[inline(always)]
    fn key(&self, i: usize) -> Option<&ValueKey> {
        Some(&self.set.values[i].key)
    }
}

/// Label values a [`Family`](crate::Family) can look up: a slice, array or `Vec` of strings, or
/// a prepared [`LabelKey`]. Sealed. (Label *names* are declared once, when the family is
/// registered; everything that takes values says so in its name.)
pub trait LabelValues: sealed::Prepare {}

/// The label values of a series without labels, for the calls that take values:
/// `family.with(NO_LABELS)`, `metric_family.push_gauge(NO_LABELS, 1.0)`.
///
/// ```
/// use aiplatform_metrics::{MetricFamily, MetricKind, NO_LABELS};
///
/// let mut up = MetricFamily::builder(MetricKind::Gauge, "up", "Target reachable.").build().unwrap();
/// up.push_gauge(NO_LABELS, 1.0).unwrap();
/// assert_eq!(up.get(NO_LABELS).unwrap().labels.len(), 0);
/// ```
pub const NO_LABELS: &[&str] = &[];

pub(crate) mod sealed {
    use super::*;

    /// Turns label values into a lookup; not part of the public API.
    pub trait Prepare {
        type Lookup<'a>: Lookup
        where
            Self: 'a;

        fn prepare(&self) -> Self::Lookup<'_>;
    }
}

impl<V: AsRef<str>> LabelValues for [V] {}
impl<V: AsRef<str>> sealed::Prepare for [V] {
    type Lookup<'a>
        = Query<'a, V>
    where
        V: 'a;

    #[inline(always)]
    fn prepare(&self) -> Query<'_, V> {
        Query::new(self)
    }
}

impl<V: AsRef<str>, const N: usize> LabelValues for [V; N] {}
impl<V: AsRef<str>, const N: usize> sealed::Prepare for [V; N] {
    type Lookup<'a>
        = Query<'a, V>
    where
        V: 'a;

    #[inline(always)]
    fn prepare(&self) -> Query<'_, V> {
        Query::new(self)
    }
}

impl<V: AsRef<str>> LabelValues for Vec<V> {}
impl<V: AsRef<str>> sealed::Prepare for Vec<V> {
    type Lookup<'a>
        = Query<'a, V>
    where
        V: 'a;

    #[inline(always)]
    fn prepare(&self) -> Query<'_, V> {
        Query::new(self)
    }
}

impl LabelValues for LabelKey {}
impl sealed::Prepare for LabelKey {
    type Lookup<'a> = &'a LabelKey;

    #[inline(always)]
    fn prepare(&self) -> &LabelKey {
        self
    }
}

impl<L: Lookup + ?Sized> Lookup for &L {
    #[inline(always)]
    fn hash(&self) -> u64 {
        (**self).hash()
    }

    #[inline(always)]
    fn len(&self) -> usize {
        (**self).len()
    }

    #[inline(always)]
    fn value(&self, i: usize) -> &str {
        (**self).value(i)
    }

    #[inline(always)]
    fn key(&self, i: usize) -> Option<&ValueKey> {
        (**self).key(i)
    }
}

impl Ord for LabelSet {
    /// Lexicographic by values, which is the order series are exposed in.
    fn cmp(&self, other: &Self) -> Ordering {
        self.values().cmp(other.values())
    }
}

impl PartialOrd for LabelSet {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for LabelSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{{{}}}", self.rendered())
    }
}

/// The values in a series' rendered label text ([`LabelSet::rendered`], or an entry of
/// [`MetricFamily::rendered_labels`](crate::MetricFamily::rendered_labels)), in order: an
/// encoder that reads every series can take the values from the family's one contiguous text
/// instead of visiting each series' label set on the heap. A value written as is comes back as
/// `Some(value)`; one holding an escaped character (`\`, `"`, line feed) as `None`, to be read
/// from the series' [`LabelSet`] (rare, and unescaping would cost a copy).
///
/// ```
/// use aiplatform_metrics::{LabelSet, rendered_values};
///
/// let set = LabelSet::new(&["path", "note", "code"], &["/a", "say \"hi\"", "200"]);
/// let values: Vec<_> = rendered_values(set.rendered()).collect();
/// assert_eq!(values, [Some("/a"), None, Some("200")]);
/// ```
pub fn rendered_values(rendered: &str) -> RenderedValues<'_> {
    RenderedValues {
        text: rendered.as_bytes(),
        pos: 0,
    }
}

/// Iterator of [`rendered_values`].
#[derive(Debug, Clone)]
pub struct RenderedValues<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for RenderedValues<'a> {
    type Item = Option<&'a str>;

    #[inline]
    fn next(&mut self) -> Option<Option<&'a str>> {
        let t = self.text;
        if self.pos >= t.len() {
            return None;
        }
        // `name="`: names hold no `=` (nor `"`).
        let start = (find_either(t, self.pos, b'=', b'=') + 2).min(t.len());
        let end = find_either(t, start, b'"', b'\\');
        if end < t.len() && t[end] == b'\\' {
            // Escaped characters: find the closing quote, stepping over escapes.
            let mut i = end;
            while i < t.len() && t[i] != b'"' {
                i += if t[i] == b'\\' { 2 } else { 1 };
            }
            self.pos = i + 2;
            return Some(None);
        }
        // Past the closing quote and the comma.
        self.pos = end + 2;
        // SAFETY: `start` follows the ASCII `="` and `end` is at an ASCII `"` (or the end of
        // the text): both are character boundaries of the `str` this came from.
        Some(Some(unsafe {
            std::str::from_utf8_unchecked(t.get_unchecked(start..end))
        }))
    }
}

/// Where the first `a` or `b` at or after `from` is in `t` (`t.len()` if none), eight bytes
/// at a time: label names and values are short, and a byte loop mispredicts its exit.
#[inline(always)]
fn find_either(t: &[u8], from: usize, a: u8, b: u8) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // High bit of each byte equal to `byte` (the lowest one set is exact: a false positive
    // only ever follows a true one).
    let matches = |w: u64, byte: u8| {
        let x = w ^ (ONES * u64::from(byte));
        x.wrapping_sub(ONES) & !x & HIGHS
    };
    let mut i = from;
    while i < t.len() {
        let load = |at: usize| u64::from_le_bytes(t[at..at + 8].try_into().expect("eight bytes"));
        let w = if i + 8 <= t.len() {
            load(i)
        } else if t.len() >= 8 {
            // The tail: the last eight bytes, shifted down past those already searched.
            load(t.len() - 8) >> (8 * (i + 8 - t.len()))
        } else {
            t[i..]
                .iter()
                .enumerate()
                .fold(0, |w, (k, &c)| w | u64::from(c) << (8 * k))
        };
        // Bytes shifted in are zeros, equal to neither `a` nor `b` (both ASCII punctuation).
        let m = matches(w, a) | matches(w, b);
        if m != 0 {
            return (i + (m.trailing_zeros() / 8) as usize).min(t.len());
        }
        i += 8;
    }
    t.len()
}

/// Appends the raw values to `text` and returns where each starts, with its key.
fn append_values<V: AsRef<str>>(text: &mut String, values: &[V]) -> Box<[StoredValue]> {
    let seed = seed();
    let stored = values
        .iter()
        .map(|v| {
            let start = len32(text);
            text.push_str(v.as_ref());
            StoredValue {
                key: value_key(v.as_ref().as_bytes(), seed),
                start,
            }
        })
        .collect();
    len32(text);
    stored
}

fn len32(s: &str) -> u32 {
    u32::try_from(s.len()).expect("label text larger than 4 GiB")
}

/// Escapes a label value: `\` → `\\`, `"` → `\"`, line feed → `\n`. Both text formats agree.
pub(crate) fn escape_label_value(v: &str, out: &mut String) {
    escape(v, out, true);
}

/// Escapes HELP text. Prometheus text 0.0.4 escapes only `\` and line feed; OpenMetrics also
/// escapes `"`.
pub(crate) fn escape_help(v: &str, quotes: bool, out: &mut String) {
    escape(v, out, quotes);
}

fn escape(v: &str, out: &mut String, quotes: bool) {
    let mut rest = v;
    while let Some(i) = rest.find(|c| c == '\\' || c == '\n' || (quotes && c == '"')) {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'\\' => "\\\\",
            b'\n' => "\\n",
            _ => "\\\"",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_keeps_raw_values() {
        let set = LabelSet::new(&["a", "b", "c"], &["x", "", "ü\\"]);
        assert_eq!(set.len(), 3);
        assert_eq!(set.values().collect::<Vec<_>>(), ["x", "", "ü\\"]);
        assert_eq!(set.rendered(), r#"a="x",b="",c="ü\\""#);
        assert!(set.matches_values(&["x", "", "ü\\"]));
        assert!(!set.matches_values(&["x", "", "ü"]));
        assert!(!set.matches_values(&["x", ""]));
        let long = "l".repeat(30);
        let set = LabelSet::new(&["a"], &[&long]);
        assert!(set.matches_values(&[&long]));
        assert!(!set.matches_values(&[&"l".repeat(31)]));
    }

    #[test]
    fn empty_set() {
        let set = LabelSet::empty();
        assert!(set.is_empty());
        assert_eq!(set.rendered(), "");
        assert_eq!(set, LabelSet::new::<&str, &str>(&[], &[]));
    }

    #[test]
    fn escaping_rules_per_context() {
        let mut s = String::new();
        escape_label_value("a\"b\\c\nd", &mut s);
        assert_eq!(s, r#"a\"b\\c\nd"#);
        let mut s = String::new();
        escape_help("a\"b\\c\nd", false, &mut s);
        assert_eq!(s, r#"a"b\\c\nd"#);
        let mut s = String::new();
        escape_help("a\"b\\c\nd", true, &mut s);
        assert_eq!(s, r#"a\"b\\c\nd"#);
    }

    #[test]
    fn order_is_by_values() {
        let a = LabelSet::new(&["k", "l"], &["a", "z"]);
        let b = LabelSet::new(&["k", "l"], &["b", "a"]);
        let c = LabelSet::new(&["k", "l"], &["a", "za"]);
        assert!(a < b && a < c && c < b);
    }

    #[test]
    fn rendered_values_read_back_every_value_or_point_to_the_label_set() {
        let pieces = [
            "", "a", "/r1", "\\", "\"", "\n", "x=\"y\",", "ü", "\\\"", "=", ",",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let values = [a, b, c];
                    let set = LabelSet::new(&["first", "b", "c_3"], &values);
                    let got: Vec<Option<&str>> = rendered_values(set.rendered()).collect();
                    let want: Vec<Option<&str>> = values
                        .iter()
                        .map(|v| (!v.contains(['\\', '"', '\n'])).then_some(*v))
                        .collect();
                    assert_eq!(got, want, "{values:?}");
                }
            }
        }
        // Texts shorter than eight bytes.
        for v in pieces {
            let set = LabelSet::new(&["a"], &[v]);
            let got: Vec<Option<&str>> = rendered_values(set.rendered()).collect();
            let want = (!v.contains(['\\', '"', '\n'])).then_some(v);
            assert_eq!(got, [want], "{v:?}");
        }
        assert_eq!(rendered_values(LabelSet::empty().rendered()).count(), 0);
    }
}
