//! The telemetry path: filters, the concurrency cap, collectors, rendering, self-metrics.

use http::{Request, StatusCode};

use aiplatform_metrics::collect::Collector as _;

use super::app::App;
use crate::collectors::{ScrapeOptions, Selection, scrape_budget};
use crate::query;
use crate::response::{self, Response, header_str};
use crate::route::SCRAPE_TIMEOUT_HEADER;
use crate::self_metrics::ErrorCause;

impl App {
    pub(crate) async fn scrape<B>(&self, req: Request<B>) -> Response {
        let pairs = query::parse(req.uri().query().unwrap_or(""));
        // Filters are checked before the instrumented handler, as in node_exporter: a 400
        // is not counted in promhttp_metric_handler_requests_total.
        let selection = match (&self.collectors, self.collector_filters) {
            (Some(set), true) => {
                let collect: Vec<String> = query::values(&pairs, "collect[]")
                    .map(str::to_owned)
                    .collect();
                let exclude: Vec<String> = query::values(&pairs, "exclude[]")
                    .map(str::to_owned)
                    .collect();
                match set.select(&collect, &exclude) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(err = %e, "Couldn't create filtered metrics handler");
                        return response::text(StatusCode::BAD_REQUEST, e.to_string());
                    }
                }
            }
            _ => Selection::All,
        };

        let metrics = self.exporter_metrics.clone();
        let _in_flight = metrics.as_ref().map(|m| m.handler.enter());
        let count = |resp: Response| {
            if let Some(m) = &metrics {
                m.handler.count(resp.status().as_u16());
            }
            resp
        };
        let Some(_permit) = self.limiter.try_acquire() else {
            return count(response::text(
                StatusCode::SERVICE_UNAVAILABLE,
                self.limiter.refusal_body(),
            ));
        };

        let families = match &self.collectors {
            Some(set) => {
                set.scrape(ScrapeOptions {
                    selection,
                    budget: scrape_budget(
                        header_str(req.headers(), SCRAPE_TIMEOUT_HEADER),
                        set.timeout_offset(),
                    ),
                    query: pairs,
                })
                .await
            }
            None => Vec::new(),
        };
        let own = metrics.clone();
        let (resp, report) = self
            .exposition
            .render_with(req.headers(), move |out| {
                out.extend(families);
                if let Some(m) = own {
                    m.process.collect(out);
                    m.handler.families(out);
                }
            })
            .await;
        if report.dropped_series > 0 {
            tracing::warn!(
                dropped_series = report.dropped_series,
                "series dropped while gathering: repeated label sets or clashing families (see aiplatform_metrics_collect_dropped_series_total)"
            );
        }
        if let Some(m) = &metrics {
            if report.dropped_series > 0 || report.panicked {
                m.handler.error(ErrorCause::Gathering);
            }
            if report.gzip_failed {
                m.handler.error(ErrorCause::Encoding);
            }
        }
        count(resp)
    }
}
