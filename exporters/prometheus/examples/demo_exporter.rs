//! A minimal exporter built the way the node, postgres and redis binaries are: shared flags,
//! generated collector flags, Go-style `--version`, logging, a collector set and the server.
//! It also serves as the load-test target for the scrape latency figures.
//!
//! ```text
//! cargo run --release -p aiplatform-prometheus --example demo_exporter -- \
//!     --web.listen-address=127.0.0.1:9999 --demo.series=1000
//! curl -s localhost:9999/metrics | head
//! ```

use std::time::Duration;

use aiplatform_metrics::{MetricFamily, MetricKind, NO_LABELS, Registry};
use aiplatform_prometheus::{
    BlockingCollector, BuildInfo, CollectError, CollectorSet, DefaultState, ExporterCli,
    LandingPage, ScrapeContext, Server, WebArgs, WebDefaults, WebFlag, termination_signal,
};

#[derive(Debug, clap::Parser)]
#[command(about = "A demonstration exporter.")]
struct Cli {
    #[command(flatten)]
    web: WebArgs,
    /// Series registered natively in the registry (a counter family).
    #[arg(long = "demo.series", default_value_t = 1000)]
    series: usize,
}

/// Reads `/proc/loadavg` (a blocking collector, run on the blocking pool).
struct Loadavg;

impl BlockingCollector for Loadavg {
    fn collect(
        &self,
        _ctx: &ScrapeContext,
        out: &mut Vec<MetricFamily>,
    ) -> Result<(), CollectError> {
        let text = std::fs::read_to_string("/proc/loadavg")?;
        let mut fields = text.split_whitespace();
        for (name, help) in [
            ("demo_load1", "1m load average."),
            ("demo_load5", "5m load average."),
            ("demo_load15", "15m load average."),
        ] {
            let value: f64 = fields
                .next()
                .ok_or(CollectError::NoData)?
                .parse()
                .map_err(CollectError::new)?;
            let mut f = MetricFamily::builder(MetricKind::Gauge, name, help)
                .build()
                .map_err(CollectError::new)?;
            f.push_gauge(NO_LABELS, value).map_err(CollectError::new)?;
            out.push(f);
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let build = BuildInfo::new("demo_exporter", env!("CARGO_PKG_VERSION"));
    let mut collectors = CollectorSet::new("demo", "demo_exporter")?;
    collectors.register_blocking("loadavg", DefaultState::Enabled, Loadavg)?;
    collectors.set_collector_timeout("loadavg", Duration::from_secs(2))?;

    let cli: Cli = ExporterCli::new(
        build.clone(),
        WebDefaults::new(":9999").env(WebFlag::ListenAddress, "DEMO_EXPORTER_WEB_LISTEN_ADDRESS"),
    )
    .parse(Some(&mut collectors));
    let _log = cli.web.init_logging()?;

    let registry = Registry::new();
    registry.register_collector(build.collector());
    let requests = registry.counter_family(
        "demo_requests_total",
        "Requests handled, by route and status.",
        &["route", "status"],
    )?;
    for i in 0..cli.series {
        requests
            .with(&[
                format!("/api/v1/resource/{}", i / 10),
                format!("{}", 200 + i % 10),
            ])
            .inc_by(i as u64);
    }

    let server = Server::builder(registry)
        .web_args(&cli.web)
        .landing_page(
            LandingPage::new("Demo Exporter")
                .description("A demonstration of aiplatform-prometheus")
                .version(build.version()),
        )
        .collectors(collectors)
        .collector_filters(true)
        .bind()
        .await?;
    server.serve_with_shutdown(termination_signal()).await?;
    Ok(())
}
