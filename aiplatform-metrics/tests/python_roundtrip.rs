//! Random registries with adversarial label values and HELP text, encoded in both formats and
//! parsed back by the Python `prometheus_client` parsers: every sample must come back with the
//! same name, labels and value.
//!
//! Needs `python3` with `prometheus_client` (`scripts/test.sh` installs it).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use aiplatform_metrics::{
    Buckets, ExpositionFormat, MetricFamily, Opts, Registry, Snapshot, Value,
};
use proptest::prelude::*;
use serde_json::json;

/// One sample: name, sorted labels, value.
type Flat = (String, BTreeMap<String, String>, f64);

fn python_parse(items: &[(ExpositionFormat, String)]) -> Vec<serde_json::Value> {
    let input: Vec<_> = items
        .iter()
        .map(|(f, body)| json!({"format": if *f == ExpositionFormat::OpenMetrics { "openmetrics" } else { "text" }, "body": body}))
        .collect();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/parse_exposition.py"
    );
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is required: run scripts/test.sh, or install python3 and `pip install prometheus_client`");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&input).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Python parser failed to run (is prometheus_client installed? `pip install prometheus_client`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// What the parsers should report, derived from our own snapshot.
fn expected(snapshot: &Snapshot) -> Vec<Flat> {
    let consts: Vec<(String, String)> = snapshot
        .const_labels()
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let mut out = Vec::new();
    for f in snapshot.families() {
        for s in f.samples() {
            let mut labels: BTreeMap<String, String> = consts.iter().cloned().collect();
            labels.extend(
                f.label_names()
                    .zip(s.labels.values())
                    .map(|(k, v)| (k.to_owned(), v.to_owned())),
            );
            let name = f.name();
            match s.value {
                Value::Counter(c) => out.push((format!("{name}_total"), labels, c.as_f64())),
                Value::Gauge(v) | Value::Unknown(v) => out.push((name.to_owned(), labels, v)),
                Value::Histogram(h) => {
                    for (le, count) in h.cumulative() {
                        let mut l = labels.clone();
                        l.insert(
                            "le".into(),
                            if le.is_infinite() {
                                "+Inf".into()
                            } else {
                                format!("{le:e}")
                            },
                        );
                        out.push((format!("{name}_bucket"), l, count as f64));
                    }
                    out.push((format!("{name}_sum"), labels.clone(), h.sum));
                    out.push((format!("{name}_count"), labels, h.count as f64));
                }
                Value::Summary(_) => unreachable!("not generated"),
            }
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

fn parsed(result: &serde_json::Value) -> Result<Vec<Flat>, String> {
    if let Some(e) = result.get("error") {
        return Err(e.to_string());
    }
    let mut out = Vec::new();
    for f in result["families"].as_array().unwrap() {
        for s in f["samples"].as_array().unwrap() {
            let name = s[0].as_str().unwrap().to_owned();
            let mut labels: BTreeMap<String, String> = s[1]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect();
            if let Some(le) = labels.get_mut("le").filter(|le| *le != "+Inf") {
                // Normalise the bound's spelling ("1.0" vs "1"): compare numbers, not text.
                *le = format!("{:e}", le.parse::<f64>().unwrap());
            }
            let value = match s[2].as_str().unwrap() {
                "nan" => f64::NAN,
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                v => v.parse().unwrap(),
            };
            out.push((name, labels, value));
        }
    }
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    Ok(out)
}

fn same(a: &[Flat], b: &[Flat]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.0 == y.0 && x.1 == y.1 && (x.2 == y.2 || (x.2.is_nan() && y.2.is_nan()))
        })
}

#[derive(Debug, Clone)]
enum Kind {
    Counter(Vec<u64>, Vec<f64>),
    Gauge(f64),
    Histogram(Vec<f64>),
}

#[derive(Debug, Clone)]
struct FamilySpec {
    help: String,
    labels: Vec<String>,
    series: Vec<(Vec<String>, Kind)>,
    kind: u8,
}

/// Label values and HELP text that stress the escaping rules.
fn adversarial_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("\n".to_owned()),
        Just("a\\\"b\\nc\\\\".to_owned()),
        Just("} ,= #".to_owned()),
        "[ -~]{0,12}",
        "\\PC{0,8}",
        proptest::collection::vec(
            prop_oneof![
                Just('"'),
                Just('\\'),
                Just('\n'),
                Just('é'),
                Just('😀'),
                Just('a'),
                Just(' ')
            ],
            0..10
        )
        .prop_map(|v| v.into_iter().collect()),
    ]
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<i32>().prop_map(f64::from),
        -1e12f64..1e12,
        Just(1e-300),
        Just(-0.0),
        Just(6.02e23),
        Just(f64::MAX)
    ]
}

fn family_spec() -> impl Strategy<Value = FamilySpec> {
    (adversarial_text(), 0usize..3, 0u8..3).prop_flat_map(|(help, nlabels, kind)| {
        let labels: Vec<String> = (0..nlabels).map(|i| format!("l{i}")).collect();
        let value = match kind {
            0 => (
                proptest::collection::vec(0u64..1_000_000, 0..4),
                proptest::collection::vec(0.0f64..10.0, 0..2),
            )
                .prop_map(|(i, f)| Kind::Counter(i, f))
                .boxed(),
            1 => prop_oneof![
                finite(),
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(f64::NEG_INFINITY)
            ]
            .prop_map(Kind::Gauge)
            .boxed(),
            _ => proptest::collection::vec(prop_oneof![0.0f64..20.0, Just(f64::NAN)], 0..6)
                .prop_map(Kind::Histogram)
                .boxed(),
        };
        let series = proptest::collection::vec(
            (
                proptest::collection::vec(adversarial_text(), nlabels),
                value,
            ),
            1..5,
        );
        (Just(help), Just(labels), series, Just(kind)).prop_map(|(help, labels, series, kind)| {
            FamilySpec {
                help,
                labels,
                series,
                kind,
            }
        })
    })
}

fn build(specs: &[FamilySpec], const_value: &str) -> Registry {
    let registry = Registry::builder()
        .const_label("c", const_value)
        .build()
        .unwrap();
    for (i, spec) in specs.iter().enumerate() {
        let labels: Vec<&str> = spec.labels.iter().map(String::as_str).collect();
        match spec.kind {
            0 => {
                let f = registry
                    .register(
                        Opts::counter(&format!("app:c{i}_total"), &spec.help).label_names(&labels),
                    )
                    .unwrap();
                for (values, k) in &spec.series {
                    let c = f.with(values);
                    if let Kind::Counter(ints, floats) = k {
                        ints.iter().for_each(|&v| c.inc_by(v));
                        floats.iter().for_each(|&v| c.inc_by_f64(v));
                    }
                }
            }
            1 => {
                let f = registry
                    .register(Opts::gauge(&format!("g{i}"), &spec.help).label_names(&labels))
                    .unwrap();
                for (values, k) in &spec.series {
                    if let Kind::Gauge(v) = k {
                        f.with(values).set(*v);
                    }
                }
            }
            _ => {
                let buckets = Buckets::new([0.001, 0.5, 1.0, 2.5, 1e6]).unwrap();
                let f = registry
                    .register(
                        Opts::histogram(&format!("h{i}_seconds"), &spec.help, buckets)
                            .label_names(&labels),
                    )
                    .unwrap();
                for (values, k) in &spec.series {
                    if let Kind::Histogram(obs) = k {
                        let h = f.with(values);
                        obs.iter().for_each(|&v| h.observe(v));
                    }
                }
            }
        }
    }
    registry
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn python_parsers_read_back_what_we_wrote(specs in proptest::collection::vec(family_spec(), 1..5), const_value in adversarial_text()) {
        let registry = build(&specs, &const_value);
        let snapshot = registry.collect();
        let want = expected(&snapshot);
        let bodies: Vec<(ExpositionFormat, String)> = [ExpositionFormat::Text, ExpositionFormat::OpenMetrics]
            .into_iter()
            .map(|f| (f, String::from_utf8(aiplatform_metrics::encode(&snapshot, f)).unwrap()))
            .collect();
        let results = python_parse(&bodies);
        for ((format, body), result) in bodies.iter().zip(&results) {
            let got = parsed(result).map_err(|e| TestCaseError::fail(format!("{format:?} rejected: {e}\n{body}")))?;
            prop_assert!(same(&got, &want), "{format:?} differs\nbody:\n{body}\ngot:  {got:?}\nwant: {want:?}");
        }
        for (format, result) in [ExpositionFormat::Text, ExpositionFormat::OpenMetrics].iter().zip(&results) {
            // HELP text survives escaping in both formats.
            let families = result["families"].as_array().unwrap();
            for spec_help in specs.iter().map(|s| s.help.trim()) {
                prop_assert!(
                    families.iter().any(|f| f["help"].as_str() == Some(spec_help)) || spec_help.is_empty(),
                    "{format:?}: HELP {spec_help:?} not read back"
                );
            }
        }
    }
}

#[test]
fn python_parser_rejects_what_openmetrics_forbids() {
    // Sanity check of the harness: a hand-made invalid body must be reported as an error, so a
    // passing round trip means the parser really accepted our output.
    let results = python_parse(&[(
        ExpositionFormat::OpenMetrics,
        "# TYPE x counter\nx_total 1\n".to_owned(),
    )]);
    assert!(
        results[0].get("error").is_some(),
        "missing # EOF must be rejected: {:?}",
        results[0]
    );
    let empty = MetricFamily::builder(aiplatform_metrics::MetricKind::Gauge, "x", "y")
        .build()
        .unwrap();
    assert!(empty.is_empty());
}
