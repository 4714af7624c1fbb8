//! Which traces are exported (see [`Sampler`]), and the W3C `traceparent` a span continues a
//! caller's trace from.

use crate::error::ConfigError;

/// Which spans are exported: made from `OTEL_TRACES_SAMPLER` unless set with
/// [`Otlp::sampler`](crate::Otlp::sampler).
///
/// | `OTEL_TRACES_SAMPLER` | a span is sampled (exported) when |
/// |---|---|
/// | `always_on` | always |
/// | `always_off` | never |
/// | `traceidratio` | its trace id says so for the ratio `OTEL_TRACES_SAMPLER_ARG` (below), whatever its parent decided |
/// | `parentbased_always_on` (the default) | its parent (local, or remote from `traceparent`) was sampled; a root span always |
/// | `parentbased_always_off` | its parent was sampled; a root span never |
/// | `parentbased_traceidratio` | its parent was sampled; a root span as `traceidratio` decides |
///
/// `OTEL_TRACES_SAMPLER_ARG` is the ratio, from 0 to 1 (default 1), read only by the two
/// ratio samplers. Any other sampler name (`jaeger_remote`, `xray`, a typo) or a ratio that is
/// not a number from 0 to 1 is a [`ConfigError::Invalid`] naming the variable.
///
/// The ratio decision is the OpenTelemetry specification's (`TraceIdRatioBased`, with the
/// W3C Trace Context Level 2 randomness): the randomness `R` is the trace id's
/// least-significant 56 bits, the rejection threshold `T` is `(1 - ratio) × 2^56`, and the
/// trace is sampled when `R ≥ T`. It depends on the trace id only, so every span of a trace,
/// in this process or in another that implements the specification, decides the same way,
/// and a trace sampled at one ratio is sampled at every higher ratio.
///
/// A ratio given in code outside 0 to 1 is taken as the nearest bound (NaN as 0).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Sampler {
    /// Every span.
    AlwaysOn,
    /// No span.
    AlwaysOff,
    /// Traces whose trace id falls within the ratio (0 to 1).
    TraceIdRatio(f64),
    /// As the parent decided; root spans all.
    ParentBasedAlwaysOn,
    /// As the parent decided; root spans none.
    ParentBasedAlwaysOff,
    /// As the parent decided; root spans by trace id within the ratio (0 to 1).
    ParentBasedTraceIdRatio(f64),
}

impl Default for Sampler {
    /// `parentbased_always_on`, the specification's default: a caller's decision not to
    /// sample its trace is kept.
    fn default() -> Sampler {
        Sampler::ParentBasedAlwaysOn
    }
}

/// The variable naming the sampler.
const SAMPLER_VAR: &str = "OTEL_TRACES_SAMPLER";
/// The variable holding the ratio.
const ARG_VAR: &str = "OTEL_TRACES_SAMPLER_ARG";

impl Sampler {
    /// The sampler `OTEL_TRACES_SAMPLER` = `name` describes, with `OTEL_TRACES_SAMPLER_ARG` =
    /// `arg` (the ratio of the ratio samplers; ignored by the others).
    ///
    /// ```
    /// use aiplatform_otlp::Sampler;
    ///
    /// assert_eq!(
    ///     Sampler::parse("parentbased_traceidratio", Some("0.25")).unwrap(),
    ///     Sampler::ParentBasedTraceIdRatio(0.25)
    /// );
    /// assert_eq!(Sampler::parse("traceidratio", None).unwrap(), Sampler::TraceIdRatio(1.0));
    /// assert!(Sampler::parse("xray", None).is_err());
    /// assert!(Sampler::parse("traceidratio", Some("1.5")).is_err());
    /// ```
    pub fn parse(name: &str, arg: Option<&str>) -> Result<Sampler, ConfigError> {
        let ratio = || -> Result<f64, ConfigError> {
            let Some(arg) = arg.map(str::trim).filter(|a| !a.is_empty()) else {
                return Ok(1.0);
            };
            arg.parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| ConfigError::Invalid {
                    setting: ARG_VAR.into(),
                    value: arg.into(),
                    expected: "a ratio from 0 to 1",
                })
        };
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::TraceIdRatio(ratio()?),
            "parentbased_always_on" => Sampler::ParentBasedAlwaysOn,
            "parentbased_always_off" => Sampler::ParentBasedAlwaysOff,
            "parentbased_traceidratio" => Sampler::ParentBasedTraceIdRatio(ratio()?),
            _ => {
                return Err(ConfigError::Invalid {
                    setting: SAMPLER_VAR.into(),
                    value: name.into(),
                    expected: "always_on, always_off, traceidratio, parentbased_always_on, \
                               parentbased_always_off or parentbased_traceidratio",
                });
            }
        })
    }

    /// The sampler the variables ask for (the default when `OTEL_TRACES_SAMPLER` is unset).
    pub(crate) fn from_vars(vars: &crate::config::Vars) -> Result<Sampler, ConfigError> {
        match vars.get(SAMPLER_VAR) {
            None => Ok(Sampler::default()),
            Some(name) => Sampler::parse(&name, vars.get(ARG_VAR).as_deref()),
        }
    }

    /// The decision in a form cheap to apply per span.
    pub(crate) fn decider(self) -> Decider {
        let (root, parent_based) = match self {
            Sampler::AlwaysOn => (Root::On, false),
            Sampler::AlwaysOff => (Root::Off, false),
            Sampler::TraceIdRatio(r) => (Root::Threshold(threshold(r)), false),
            Sampler::ParentBasedAlwaysOn => (Root::On, true),
            Sampler::ParentBasedAlwaysOff => (Root::Off, true),
            Sampler::ParentBasedTraceIdRatio(r) => (Root::Threshold(threshold(r)), true),
        };
        Decider { root, parent_based }
    }
}

/// The rejection threshold of a ratio: `(1 - ratio) × 2^56`, so that `ratio` of the values
/// of 56 uniform random bits are at or above it (0 samples everything, 2^56 nothing).
fn threshold(ratio: f64) -> u64 {
    const MAX: f64 = (1u64 << 56) as f64;
    let ratio = if ratio.is_nan() {
        0.0
    } else {
        ratio.clamp(0.0, 1.0)
    };
    ((1.0 - ratio) * MAX).round() as u64
}

/// The trace id's randomness: its least-significant 56 bits (bytes 9 to 15, big-endian).
pub(crate) fn randomness(trace: &[u8; 16]) -> u64 {
    let mut b = [0u8; 8];
    b[1..].copy_from_slice(&trace[9..]);
    u64::from_be_bytes(b)
}

#[derive(Debug, Clone, Copy)]
enum Root {
    On,
    Off,
    Threshold(u64),
}

/// A [`Sampler`] ready to decide.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decider {
    root: Root,
    parent_based: bool,
}

impl Decider {
    /// Whether a span of trace `trace` is sampled, given its parent's sampled flag (`None`
    /// for a root span).
    pub(crate) fn sampled(&self, trace: &[u8; 16], parent_sampled: Option<bool>) -> bool {
        if self.parent_based
            && let Some(p) = parent_sampled
        {
            return p;
        }
        match self.root {
            Root::On => true,
            Root::Off => false,
            Root::Threshold(t) => randomness(trace) >= t,
        }
    }
}

/// The span field read as the W3C `traceparent` of the caller.
pub const TRACEPARENT_FIELD: &str = "traceparent";

/// A remote parent, from a `traceparent` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RemoteParent {
    pub(crate) trace: [u8; 16],
    pub(crate) span: [u8; 8],
    pub(crate) sampled: bool,
}

/// Parses a W3C Trace Context `traceparent` (`version-traceid-parentid-flags`, lowercase
/// hex); `None` when it must be ignored: version `ff`, an all-zero trace or parent id,
/// uppercase or other non-hex characters, a version-00 value with anything after the flags,
/// or a later version without a `-` after them.
pub(crate) fn parse_traceparent(value: &str) -> Option<RemoteParent> {
    let v = value.trim_matches([' ', '\t']).as_bytes();
    if v.len() < 55 {
        return None;
    }
    let version = hex::<1>(&v[0..2])?[0];
    if version == 0xff {
        return None;
    }
    if version == 0 && v.len() != 55 {
        return None;
    }
    if v.len() > 55 && v[55] != b'-' {
        return None;
    }
    if v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let trace = hex::<16>(&v[3..35])?;
    let span = hex::<8>(&v[36..52])?;
    let flags = hex::<1>(&v[53..55])?[0];
    if trace == [0; 16] || span == [0; 8] {
        return None;
    }
    Some(RemoteParent {
        trace,
        span,
        sampled: flags & 1 == 1,
    })
}

/// `2 × N` lowercase hex digits as bytes.
fn hex<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    #[test]
    fn traceparent_follows_the_w3c_rules() {
        let ok = parse_traceparent(&format!("00-{TRACE}-{SPAN}-01")).unwrap();
        assert_eq!(ok.trace[0], 0x4b);
        assert_eq!(ok.trace[15], 0x36);
        assert_eq!(ok.span, [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
        assert!(ok.sampled);
        let unsampled = parse_traceparent(&format!("00-{TRACE}-{SPAN}-00")).unwrap();
        assert!(!unsampled.sampled);
        // Flags other than sampled do not make it sampled.
        assert!(
            !parse_traceparent(&format!("00-{TRACE}-{SPAN}-02"))
                .unwrap()
                .sampled
        );
        // A later version: the first four fields count, more after a '-'.
        assert_eq!(
            parse_traceparent(&format!("01-{TRACE}-{SPAN}-01-what-comes-next")),
            Some(ok)
        );
        assert_eq!(
            parse_traceparent(&format!("cc-{TRACE}-{SPAN}-01")),
            Some(ok)
        );
        for bad in [
            format!("ff-{TRACE}-{SPAN}-01"),
            format!("00-{}-{SPAN}-01", "0".repeat(32)),
            format!("00-{TRACE}-{}-01", "0".repeat(16)),
            format!("00-{}-{SPAN}-01", TRACE.to_uppercase()),
            format!("00-{TRACE}-{}-01", SPAN.to_uppercase()),
            format!("00-{TRACE}-{SPAN}-0g"),
            format!("00-{TRACE}-{SPAN}-01-extra"),
            format!("01-{TRACE}-{SPAN}-01x"),
            format!("0-{TRACE}-{SPAN}-01"),
            format!("00-{TRACE}0-{SPAN}-01"),
            format!("00_{TRACE}-{SPAN}-01"),
            format!("00-{TRACE}-{SPAN}"),
            format!("00-{}-{SPAN}-01", &TRACE[..31]),
            String::new(),
            "garbage".into(),
        ] {
            assert_eq!(parse_traceparent(&bad), None, "{bad}");
        }
    }

    #[test]
    fn unknown_samplers_and_bad_ratios_are_config_errors() {
        for (name, arg) in [
            ("parentbased_jaeger_remote", None),
            ("xray", None),
            ("alwayson", None),
            ("traceidratio", Some("half")),
            ("traceidratio", Some("-0.1")),
            ("parentbased_traceidratio", Some("1.01")),
            ("traceidratio", Some("NaN")),
        ] {
            let e = Sampler::parse(name, arg).unwrap_err();
            assert!(matches!(e, ConfigError::Invalid { .. }), "{e:?}");
            let text = e.to_string();
            let var = if arg.is_some() { ARG_VAR } else { SAMPLER_VAR };
            assert!(text.starts_with(var), "{text}");
        }
        // The ratio is read only by the ratio samplers.
        assert_eq!(
            Sampler::parse("ALWAYS_OFF", Some("junk")).unwrap(),
            Sampler::AlwaysOff
        );
    }

    #[test]
    fn ratio_decisions_are_the_threshold_rule() {
        let d = Sampler::TraceIdRatio(0.5).decider();
        let mut trace = [0xffu8; 16];
        // Only the low 56 bits count: the high ones are all set in both cases.
        trace[9..].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0]);
        assert!(d.sampled(&trace, None));
        trace[9..].copy_from_slice(&[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert!(!d.sampled(&trace, None));
        // The parent's flag does not matter to a plain ratio sampler, but does to a
        // parent-based one.
        assert!(!d.sampled(&trace, Some(true)));
        let pb = Sampler::ParentBasedTraceIdRatio(0.5).decider();
        assert!(pb.sampled(&trace, Some(true)));
        assert!(!pb.sampled(&[0xff; 16], Some(false)));
        assert!(!pb.sampled(&trace, None));
        // 0 samples nothing, 1 everything.
        assert!(
            !Sampler::TraceIdRatio(0.0)
                .decider()
                .sampled(&[0xff; 16], None)
        );
        assert!(Sampler::TraceIdRatio(1.0).decider().sampled(&[0; 16], None));
        // Out of range in code: the nearest bound; NaN samples nothing.
        assert!(Sampler::TraceIdRatio(7.0).decider().sampled(&[0; 16], None));
        assert!(
            !Sampler::TraceIdRatio(-1.0)
                .decider()
                .sampled(&[0xff; 16], None)
        );
        assert!(
            !Sampler::TraceIdRatio(f64::NAN)
                .decider()
                .sampled(&[0xff; 16], None)
        );
    }

    #[test]
    fn higher_ratios_sample_a_superset() {
        let ratios = [0.01, 0.1, 0.25, 0.5, 0.9];
        let deciders: Vec<Decider> = ratios
            .iter()
            .map(|&r| Sampler::TraceIdRatio(r).decider())
            .collect();
        let mut counts = [0u32; 5];
        let n = 200_000;
        for _ in 0..n {
            let mut trace = [0u8; 16];
            trace[..8].copy_from_slice(&fastrand::u64(..).to_le_bytes());
            trace[8..].copy_from_slice(&fastrand::u64(..).to_le_bytes());
            let d: Vec<bool> = deciders.iter().map(|d| d.sampled(&trace, None)).collect();
            for w in d.windows(2) {
                assert!(
                    !w[0] || w[1],
                    "sampled at a lower ratio, not at a higher one"
                );
            }
            for (c, s) in counts.iter_mut().zip(&d) {
                *c += u32::from(*s);
            }
        }
        for (r, c) in ratios.iter().zip(counts) {
            let expected = r * f64::from(n);
            let sd = (expected * (1.0 - r)).sqrt();
            assert!(
                (f64::from(c) - expected).abs() < 6.0 * sd,
                "ratio {r}: {c} of {n}"
            );
        }
    }

    #[test]
    fn parent_based_samplers_follow_the_parent() {
        let t = [7u8; 16];
        for s in [
            Sampler::ParentBasedAlwaysOn,
            Sampler::ParentBasedAlwaysOff,
            Sampler::ParentBasedTraceIdRatio(0.0),
            Sampler::ParentBasedTraceIdRatio(1.0),
        ] {
            let d = s.decider();
            assert!(d.sampled(&t, Some(true)), "{s:?}");
            assert!(!d.sampled(&t, Some(false)), "{s:?}");
        }
        assert!(Sampler::ParentBasedAlwaysOn.decider().sampled(&t, None));
        assert!(!Sampler::ParentBasedAlwaysOff.decider().sampled(&t, None));
        assert!(Sampler::AlwaysOn.decider().sampled(&t, Some(false)));
        assert!(!Sampler::AlwaysOff.decider().sampled(&t, Some(true)));
    }
}
