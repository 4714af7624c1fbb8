//! The plain-HTTP surface against a real server: negotiation for every Accept form
//! Prometheus sends, gzip, the landing page, health, 404, self-metrics, extra routes.

mod common;

use std::io::Read as _;

use aiplatform_metrics::{MetricFamily, MetricKind, NO_LABELS, Registry};
use aiplatform_prometheus::{Exposition, LandingPage, RouteRequest, Server, http};
use aiplatform_testkit::Scrape;
use common::{Client, start};

const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn registry() -> Registry {
    let r = Registry::new();
    let c = r
        .counter_family("app_requests_total", "Requests served.", &["code"])
        .unwrap();
    c.with(&["200"]).inc_by(7);
    r.gauge("app_temperature_celsius", "Inlet temperature.")
        .unwrap()
        .set(21.5);
    r
}

/// What Prometheus 2.42 sends: OpenMetrics first.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_prometheus_gets_text_so_counters_without_total_keep_their_names() {
    // A counter named without _total, as exporters keep postgres_exporter's names.
    let r = Registry::new();
    r.register_collector(|out: &mut Vec<MetricFamily>| {
        let mut f = MetricFamily::builder(
            MetricKind::Counter,
            "pg_stat_database_xact_commit",
            "Commits.",
        )
        .text_name_as_given()
        .build()
        .unwrap();
        f.push_counter(NO_LABELS, 3.0).unwrap();
        out.push(f);
    });
    let (_server, addr) = start(Server::builder(r).exporter_metrics(false)).await;
    let client = Client::plain();
    for accept in [
        PROMETHEUS_ACCEPT,
        "application/openmetrics-text;version=1.0.0",
        "*/*",
    ] {
        let r = client
            .get_with(addr, "/metrics", &[("accept", accept)])
            .await
            .unwrap();
        assert_eq!(r.header("content-type"), Some(TEXT), "Accept: {accept}");
        let body = r.text();
        assert!(
            body.contains("\npg_stat_database_xact_commit 3\n"),
            "{body}"
        );
        assert!(!body.contains("_total"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_negotiation_for_each_prometheus_accept_header() {
    let (_server, addr) = start(
        Server::builder(registry())
            .exporter_metrics(false)
            .openmetrics(true),
    )
    .await;
    let cases = [
        // Prometheus 2.x before native histograms.
        (
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            OPENMETRICS,
        ),
        // Prometheus 2.x with native histograms (protobuf first, which we do not speak).
        (
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            OPENMETRICS,
        ),
        // Later Prometheus 2.x (2.53).
        (
            "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
            OPENMETRICS,
        ),
        // Prometheus 3.x default.
        (
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
            OPENMETRICS,
        ),
        // scrape_protocols: [PrometheusText0.0.4].
        ("text/plain;version=0.0.4;q=1,*/*;q=0.1", TEXT),
        // OpenMetrics refused outright.
        ("application/openmetrics-text;q=0,*/*", TEXT),
        // curl and browsers.
        ("*/*", TEXT),
        (
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            TEXT,
        ),
    ];
    let client = Client::plain();
    for (accept, want) in cases {
        let r = client
            .get_with(addr, "/metrics", &[("accept", accept)])
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some(want), "Accept: {accept}");
        let body = r.text();
        if want == OPENMETRICS {
            assert!(body.ends_with("# EOF\n"), "{body}");
            assert!(body.contains("# TYPE app_requests counter\n"), "{body}");
        } else {
            assert!(!body.contains("# EOF"), "{body}");
            assert!(
                body.contains("# TYPE app_requests_total counter\n"),
                "{body}"
            );
        }
        assert!(
            body.contains("app_requests_total{code=\"200\"} 7\n"),
            "{body}"
        );
    }
    // No Accept header at all: text.
    let r = client.get(addr, "/metrics").await.unwrap();
    assert_eq!(r.header("content-type"), Some(TEXT));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_round_trip_and_refusal() {
    let (_server, addr) = start(Server::builder(registry()).exporter_metrics(false)).await;
    let client = Client::plain();
    let plain = client.get(addr, "/metrics").await.unwrap();
    assert_eq!(plain.header("content-encoding"), None);

    let zipped = client
        .get_with(
            addr,
            "/metrics",
            &[("accept-encoding", "gzip, deflate, br")],
        )
        .await
        .unwrap();
    assert_eq!(zipped.status, 200);
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert_eq!(zipped.header("content-type"), Some(TEXT));
    assert_eq!(zipped.header("vary"), Some("Accept-Encoding"));
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&zipped.body[..])
        .read_to_string(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain.text());

    for refused in ["gzip;q=0", "identity", "gzip;q=0, *;q=1"] {
        let r = client
            .get_with(addr, "/metrics", &[("accept-encoding", refused)])
            .await
            .unwrap();
        assert_eq!(r.header("content-encoding"), None, "{refused}");
        assert_eq!(r.text(), plain.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn landing_page_health_and_404() {
    let page = LandingPage::new("Node Exporter")
        .description("Prometheus Node Exporter")
        .version("1.2.3");
    let (_server, addr) = start(Server::builder(registry()).landing_page(page)).await;
    let client = Client::plain();

    let landing = client.get(addr, "/").await.unwrap();
    assert_eq!(landing.status, 200);
    assert_eq!(
        landing.header("content-type"),
        Some("text/html; charset=UTF-8")
    );
    let html = landing.text();
    assert!(html.contains("<title>Node Exporter</title>"), "{html}");
    assert!(html.contains("<h3>Prometheus Node Exporter</h3>"), "{html}");
    assert!(html.contains("Version: 1.2.3"), "{html}");
    assert!(html.contains("<a href=\"metrics\">Metrics</a>"), "{html}");

    for path in ["/health", "/-/healthy"] {
        let r = client.get(addr, path).await.unwrap();
        assert_eq!(
            (r.status.as_u16(), r.text().as_str()),
            (200, "ok"),
            "{path}"
        );
    }

    // Latest upstream behaviour: anything else is 404 (Debian 12's exporters served the
    // landing page here).
    for path in ["/nope", "/metrics/", "/index.html", "/debug/pprof/"] {
        let r = client.get(addr, path).await.unwrap();
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.text(), "404 page not found\n");
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_path_at_root_replaces_the_landing_page() {
    let (_server, addr) = start(Server::builder(registry()).telemetry_path("/")).await;
    let client = Client::plain();
    let r = client.get(addr, "/").await.unwrap();
    assert_eq!(r.header("content-type"), Some(TEXT));
    assert!(r.text().contains("app_temperature_celsius 21.5\n"));
    assert_eq!(client.get(addr, "/metrics").await.unwrap().status, 404);

    let (_server, addr) = start(Server::builder(registry()).telemetry_path("/custom")).await;
    assert_eq!(client.get(addr, "/custom").await.unwrap().status, 200);
    assert_eq!(client.get(addr, "/metrics").await.unwrap().status, 404);
    let html = client.get(addr, "/").await.unwrap().text();
    assert!(html.contains("<a href=\"custom\">Metrics</a>"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_metrics_count_scrapes_and_can_be_disabled() {
    let (_server, addr) = start(Server::builder(registry())).await;
    let client = Client::plain();
    let first = client.get(addr, "/metrics").await.unwrap().text();
    for line in [
        "# HELP promhttp_metric_handler_requests_total Total number of scrapes by HTTP status code.",
        "# TYPE promhttp_metric_handler_requests_total counter",
        "promhttp_metric_handler_requests_total{code=\"200\"} 0",
        "promhttp_metric_handler_requests_total{code=\"500\"} 0",
        "promhttp_metric_handler_requests_total{code=\"503\"} 0",
        "# HELP promhttp_metric_handler_requests_in_flight Current number of scrapes being served.",
        "# TYPE promhttp_metric_handler_requests_in_flight gauge",
        "promhttp_metric_handler_requests_in_flight 1",
        "# HELP promhttp_metric_handler_errors_total Total number of internal errors encountered by the promhttp metric handler.",
        "promhttp_metric_handler_errors_total{cause=\"encoding\"} 0",
        "promhttp_metric_handler_errors_total{cause=\"gathering\"} 0",
        "# TYPE process_cpu_seconds_total counter",
        "# TYPE process_resident_memory_bytes gauge",
    ] {
        assert!(
            first.lines().any(|l| l == line),
            "{line} missing from\n{first}"
        );
    }
    // Non-scrape requests are not counted.
    client.get(addr, "/health").await.unwrap();
    client.get(addr, "/").await.unwrap();
    let second = client.get(addr, "/metrics").await.unwrap().text();
    assert_eq!(
        Scrape::parse(&second).get("promhttp_metric_handler_requests_total", &[("code", "200")]),
        Some(1.0)
    );
    assert!(
        Scrape::parse(&second)
            .get("process_resident_memory_bytes", &[])
            .unwrap()
            > 0.0
    );
    assert!(Scrape::parse(&second).get("process_open_fds", &[]).unwrap() >= 3.0);

    let (_server, addr) = start(Server::builder(registry()).exporter_metrics(false)).await;
    let text = client.get(addr, "/metrics").await.unwrap().text();
    assert!(!text.contains("promhttp_"), "{text}");
    assert!(!text.contains("process_"), "{text}");
    assert!(text.contains("app_requests_total"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extra_routes_render_with_negotiation() {
    let probe = |req: RouteRequest| async move {
        let Some(target) = req.query("target").map(str::to_owned) else {
            return aiplatform_prometheus::text_response(
                http::StatusCode::BAD_REQUEST,
                "target parameter is missing\n",
            );
        };
        let mut up = MetricFamily::builder(
            MetricKind::Gauge,
            "probe_up",
            "Whether the target answered.",
        )
        .label_names(&["target"])
        .build()
        .unwrap();
        up.push_gauge(&[target.as_str()], 1.0).unwrap();
        // A fresh registry per probe, as postgres_exporter's /probe uses.
        req.render(&Exposition::with_openmetrics(Registry::new()), vec![up])
            .await
    };
    let (_server, addr) = start(Server::builder(registry()).route("/probe", probe)).await;
    let client = Client::plain();

    let r = client
        .get_with(
            addr,
            "/probe?target=db%3A5432",
            &[
                ("accept", "application/openmetrics-text;version=1.0.0"),
                ("accept-encoding", "identity"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some(OPENMETRICS));
    assert_eq!(
        r.text(),
        "# TYPE probe_up gauge\n# HELP probe_up Whether the target answered.\nprobe_up{target=\"db:5432\"} 1\n# EOF\n"
    );
    let r = client.get(addr, "/probe").await.unwrap();
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (400, "target parameter is missing\n")
    );
    assert_eq!(client.get(addr, "/probe/x").await.unwrap().status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_server_settings_are_refused_at_bind() {
    let err = Server::builder(registry())
        .listen_address("127.0.0.1:0")
        .telemetry_path("metrics")
        .bind()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid path \"metrics\": must start with '/'"
    );
    let ok =
        |_: RouteRequest| async { aiplatform_prometheus::text_response(http::StatusCode::OK, "") };
    let err = Server::builder(registry())
        .listen_address("127.0.0.1:0")
        .route("/metrics", ok)
        .bind()
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "path \"/metrics\" is served twice");
    let err = Server::builder(registry()).bind().await.unwrap_err();
    assert!(err.to_string().contains("no listen address"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_listeners_and_graceful_shutdown() {
    let server = Server::builder(registry())
        .listen_addresses(["127.0.0.1:0", "127.0.0.1:0"])
        .bind()
        .await
        .unwrap();
    let handle = server.spawn();
    let addrs = handle.local_addrs().to_vec();
    assert_eq!(addrs.len(), 2);
    let client = Client::plain();
    for addr in &addrs {
        assert_eq!(client.get(*addr, "/health").await.unwrap().status, 200);
    }
    handle.shutdown().await.unwrap();
    for addr in &addrs {
        assert!(client.get(*addr, "/health").await.is_err());
    }
}
