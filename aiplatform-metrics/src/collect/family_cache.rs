//! Family descriptions built once and handed out again: what an exporter's collectors need,
//! since they build the same few hundred families at every scrape.

use super::prehashed::PrehashedMap;
use crate::desc::MetricKind;
use crate::error::RegistrationError;
use crate::labels::key::{Mixer, seed, value_key};
use crate::snapshot::MetricFamily;

/// Entries a cache holds before it starts over (see [`FamilyCache::max_entries`]).
pub const DEFAULT_MAX_CACHED_FAMILIES: usize = 4096;

/// Builds [`MetricFamily`] values for collectors, validating each description (name, label
/// names, escaped HELP) only the first time it is asked for.
///
/// Building a family allocates its description and checks every name; an exporter that
/// builds 200 families per scrape spends a good part of the scrape on that. The cache keeps
/// an empty family per description and hands out clones, which share the description and
/// allocate nothing until series are pushed. Lookups compare the description exactly, so two
/// descriptions never share an entry, whatever their hash.
///
/// The cache is bounded: past [`max_entries`](Self::max_entries) descriptions it starts
/// over, so names that come from data (a textfile, an `INFO` field) cannot grow it forever.
///
/// ```
/// use aiplatform_metrics::{MetricKind};
/// use aiplatform_metrics::NO_LABELS;
/// use aiplatform_metrics::collect::FamilyCache;
///
/// let mut cache = FamilyCache::new();
/// for _scrape in 0..3 {
///     let mut load = cache.family(MetricKind::Gauge, "node_load1", "1m load average.", NO_LABELS).unwrap();
///     load.push_gauge(NO_LABELS, 0.42).unwrap();
///     assert_eq!(load.len(), 1);
/// }
/// assert_eq!(cache.len(), 1);
/// assert!(cache.family(MetricKind::Gauge, "0bad", "Invalid name.", NO_LABELS).is_err());
/// ```
#[derive(Debug, Default)]
pub struct FamilyCache {
    by_hash: PrehashedMap<Vec<usize>>,
    entries: Vec<Entry>,
    max_entries: Option<usize>,
    text_name_as_given: bool,
}

/// One description, as it was asked for, and the empty family built from it.
#[derive(Debug)]
struct Entry {
    kind: MetricKind,
    name: Box<str>,
    help: Box<str>,
    labels: Box<[Box<str>]>,
    empty: MetricFamily,
}

impl Entry {
    fn is<S: AsRef<str>>(&self, kind: MetricKind, name: &str, help: &str, labels: &[S]) -> bool {
        self.kind == kind
            && *self.name == *name
            && *self.help == *help
            && self.labels.len() == labels.len()
            && self
                .labels
                .iter()
                .zip(labels)
                .all(|(a, b)| **a == *b.as_ref())
    }
}

impl FamilyCache {
    /// An empty cache holding at most [`DEFAULT_MAX_CACHED_FAMILIES`] descriptions.
    pub fn new() -> FamilyCache {
        FamilyCache::default()
    }

    /// Counters it builds keep their given name in text 0.0.4, as
    /// [`FamilyBuilder::text_name_as_given`](crate::collect::FamilyBuilder::text_name_as_given) does.
    ///
    /// ```
    /// use aiplatform_metrics::{MetricKind};
    /// use aiplatform_metrics::collect::FamilyCache;
    ///
    /// let mut cache = FamilyCache::new().text_name_as_given();
    /// let f = cache.family(MetricKind::Counter, "xact_commit", "Commits.", &["datname"]).unwrap();
    /// assert_eq!(f.name(), "xact_commit");
    /// ```
    pub fn text_name_as_given(mut self) -> FamilyCache {
        self.text_name_as_given = true;
        self
    }

    /// How many descriptions the cache holds before it drops them all and starts over
    /// (default [`DEFAULT_MAX_CACHED_FAMILIES`]).
    ///
    /// ```
    /// use aiplatform_metrics::{MetricKind};
    /// use aiplatform_metrics::NO_LABELS;
    /// use aiplatform_metrics::collect::FamilyCache;
    ///
    /// let mut cache = FamilyCache::new().max_entries(2);
    /// for name in ["a", "b", "c"] {
    ///     cache.family(MetricKind::Gauge, name, "Help.", NO_LABELS).unwrap();
    /// }
    /// assert_eq!(cache.len(), 1);
    /// ```
    pub fn max_entries(mut self, max: usize) -> FamilyCache {
        self.max_entries = Some(max.max(1));
        self
    }

    /// An empty family of this description: built and validated the first time, cloned
    /// from the cache afterwards. Errors are those of
    /// [`FamilyBuilder::build`](crate::collect::FamilyBuilder::build), and are not cached.
    pub fn family<S: AsRef<str>>(
        &mut self,
        kind: MetricKind,
        name: &str,
        help: &str,
        label_names: &[S],
    ) -> Result<MetricFamily, RegistrationError> {
        let hash = description_hash(kind, name, help, label_names);
        if let Some(found) = self.by_hash.get(&hash).and_then(|candidates| {
            candidates
                .iter()
                .map(|&i| &self.entries[i])
                .find(|e| e.is(kind, name, help, label_names))
        }) {
            return Ok(found.empty.clone());
        }
        let mut builder = MetricFamily::builder(kind, name, help).label_names(label_names);
        if self.text_name_as_given {
            builder = builder.text_name_as_given();
        }
        let empty = builder.build()?;
        if self.entries.len() >= self.max_entries.unwrap_or(DEFAULT_MAX_CACHED_FAMILIES) {
            self.clear();
        }
        self.by_hash
            .entry(hash)
            .or_default()
            .push(self.entries.len());
        self.entries.push(Entry {
            kind,
            name: name.into(),
            help: help.into(),
            labels: label_names.iter().map(|l| l.as_ref().into()).collect(),
            empty: empty.clone(),
        });
        Ok(empty)
    }

    /// Descriptions held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops every description.
    pub fn clear(&mut self) {
        self.by_hash.clear();
        self.entries.clear();
    }
}

/// The hash of a description, keyed like label lookups so that names from outside the
/// process cannot be chosen to collide.
fn description_hash<S: AsRef<str>>(kind: MetricKind, name: &str, help: &str, labels: &[S]) -> u64 {
    let seed = seed() ^ kind as u64;
    let mut mixer = Mixer::new(seed, labels.len());
    mixer.add(&value_key(name.as_bytes(), seed));
    mixer.add(&value_key(help.as_bytes(), seed));
    for label in labels {
        mixer.add(&value_key(label.as_ref().as_bytes(), seed));
    }
    mixer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NO_LABELS;

    #[test]
    fn equal_descriptions_share_an_entry_and_different_ones_do_not() {
        let mut cache = FamilyCache::new();
        let a = cache
            .family(MetricKind::Gauge, "disk_free", "Free.", &["device"])
            .unwrap();
        let b = cache
            .family(MetricKind::Gauge, "disk_free", "Free.", &["device"])
            .unwrap();
        assert_eq!(cache.len(), 1);
        assert!(std::sync::Arc::ptr_eq(&a.desc, &b.desc));
        // Each part of the description tells entries apart.
        cache
            .family(MetricKind::Counter, "disk_free", "Free.", &["device"])
            .unwrap();
        cache
            .family(MetricKind::Gauge, "disk_free", "Other help.", &["device"])
            .unwrap();
        cache
            .family(MetricKind::Gauge, "disk_free", "Free.", &["mount"])
            .unwrap();
        cache
            .family(
                MetricKind::Gauge,
                "disk_free",
                "Free.",
                &["device", "mount"],
            )
            .unwrap();
        cache
            .family(MetricKind::Gauge, "disk_used", "Free.", &["device"])
            .unwrap();
        assert_eq!(cache.len(), 6);
    }

    #[test]
    fn handed_out_families_are_independent_and_empty() {
        let mut cache = FamilyCache::new();
        let mut a = cache
            .family(MetricKind::Gauge, "temp", "T.", &["room"])
            .unwrap();
        a.push_gauge(&["lab"], 1.0).unwrap();
        let b = cache
            .family(MetricKind::Gauge, "temp", "T.", &["room"])
            .unwrap();
        assert_eq!((a.len(), b.len()), (1, 0));
    }

    #[test]
    fn errors_are_not_cached_and_the_bound_holds() {
        let mut cache = FamilyCache::new().max_entries(3);
        assert!(
            cache
                .family(MetricKind::Gauge, "x", "h", &["le", "le"])
                .is_err()
        );
        assert!(cache.is_empty());
        for i in 0..10 {
            cache
                .family(MetricKind::Gauge, &format!("m{i}"), "h", NO_LABELS)
                .unwrap();
            assert!(cache.len() <= 3);
        }
    }

    #[test]
    fn colliding_hashes_still_compare_exactly() {
        // Force every description into one bucket: lookups must still tell them apart.
        let mut cache = FamilyCache::new();
        let f = cache
            .family(MetricKind::Gauge, "a", "h", NO_LABELS)
            .unwrap();
        let g = cache
            .family(MetricKind::Gauge, "b", "h", NO_LABELS)
            .unwrap();
        let all: Vec<usize> = (0..cache.entries.len()).collect();
        cache.by_hash.clear();
        for key in [
            description_hash(MetricKind::Gauge, "a", "h", NO_LABELS),
            description_hash(MetricKind::Gauge, "b", "h", NO_LABELS),
        ] {
            cache.by_hash.insert(key, all.clone());
        }
        let f2 = cache
            .family(MetricKind::Gauge, "a", "h", NO_LABELS)
            .unwrap();
        let g2 = cache
            .family(MetricKind::Gauge, "b", "h", NO_LABELS)
            .unwrap();
        assert!(std::sync::Arc::ptr_eq(&f.desc, &f2.desc));
        assert!(std::sync::Arc::ptr_eq(&g.desc, &g2.desc));
        assert_eq!(cache.len(), 2);
    }
}
