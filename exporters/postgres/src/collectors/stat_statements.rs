//! `stat_statements`: statement statistics from the `pg_stat_statements` extension,
//! aggregated so that cardinality stays bounded.

use aiplatform_metrics::{MetricFamily, MetricKind};
use aiplatform_prometheus::{CollectError, DefaultState};

use super::{Cx, PgCollector, query};
use crate::cell::Cell;
use aiplatform_prometheus::family::{FamilySet, Naming};

/// Options of the `stat_statements` collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatStatementsOptions {
    /// How many statements (by total execution time) get their own `queryid` series; the
    /// rest are summed per user and database under `queryid="other"`.
    pub limit: u32,
    /// Also export `pg_stat_statements_query_id{queryid,query}`.
    pub include_query: bool,
    /// Longest statement text in `query`.
    pub query_length: u32,
}

impl Default for StatStatementsOptions {
    fn default() -> StatStatementsOptions {
        StatStatementsOptions {
            limit: 100,
            include_query: false,
            query_length: 120,
        }
    }
}

/// Upstream's `pg_stat_statements_{calls,seconds,rows,block_read_seconds,block_write_seconds}_total`
/// `{user,datname,queryid}` plus `pg_stat_statements_mean_exec_time`
/// (seconds; the database dashboard's slowest-statements panel reads it). Upstream keeps only the top statements and drops the rest (its totals are
/// wrong and series churn, #549, #765); here the top `limit` statements get their own series
/// and everything else is summed per user and database under `queryid="other"`, so
/// `sum by (datname)` is the database's true total. The 0.11 profile uses its queries.yaml
/// names (`_calls`, `_total_time_seconds`, `_mean_time_seconds`, ... with `rolname`).
#[derive(Debug, Default)]
pub struct StatStatements;

impl PgCollector for StatStatements {
    const NAME: &'static str = "stat_statements";
    const DEFAULT: DefaultState = DefaultState::Disabled;

    async fn collect(&self, cx: &Cx<'_>, out: &mut Vec<MetricFamily>) -> Result<(), CollectError> {
        let v = cx.session.version();
        let (total, read, write) = if v.at_least(17, 0) {
            (
                "total_exec_time",
                "shared_blk_read_time",
                "shared_blk_write_time",
            )
        } else if v.at_least(13, 0) {
            ("total_exec_time", "blk_read_time", "blk_write_time")
        } else {
            ("total_time", "blk_read_time", "blk_write_time")
        };
        let opts = &cx.config.stat_statements;
        let sql = format!(
            "WITH s AS ( \
               SELECT pg_get_userbyid(userid) AS usr, d.datname, queryid, \
                 LEFT(query, $2::int) AS query, calls, {total} AS total, rows, {read} AS rd, {write} AS wr, \
                 row_number() OVER (ORDER BY {total} DESC) AS rank \
               FROM pg_stat_statements JOIN pg_database d ON d.oid = pg_stat_statements.dbid) \
             SELECT usr, datname, CASE WHEN rank <= $1 THEN queryid::text ELSE 'other' END AS qid, \
               sum(calls)::float8, (sum(total) / 1000.0)::float8, sum(rows)::float8, \
               (sum(rd) / 1000.0)::float8, (sum(wr) / 1000.0)::float8, \
               CASE WHEN rank <= $1 THEN min(query) END AS query \
             FROM s GROUP BY 1, 2, 3, rank <= $1 ORDER BY 5 DESC"
        );
        let limit = i64::from(opts.limit);
        let len = i32::try_from(opts.query_length).unwrap_or(i32::MAX);
        let rows = query(cx, &sql, &[&limit, &len]).await?;
        let mut f = FamilySet::new(Naming::AsGiven);
        let server = cx.legacy_server();
        for row in &rows {
            let c = |i: usize| row.get::<_, Cell>(i);
            let unknown = |cell: Cell| {
                if cell.is_null() {
                    "unknown".to_owned()
                } else {
                    cell.to_label()
                }
            };
            let (user, datname, queryid) = (unknown(c(0)), unknown(c(1)), unknown(c(2)));
            let n = |i: usize| c(i).non_null_f64().unwrap_or(0.0);
            let (calls, secs, nrows, rd, wr) = (n(3), n(4), n(5), n(6), n(7));
            let mean = if calls > 0.0 { secs / calls } else { 0.0 };
            match server {
                Some(server) => {
                    let labels = ["datname", "queryid", "rolname", "server"];
                    let values = [datname.as_str(), queryid.as_str(), user.as_str(), server];
                    for (name, kind, help, v) in [
                        (
                            "calls",
                            MetricKind::Counter,
                            "Number of times executed",
                            calls,
                        ),
                        (
                            "total_time_seconds",
                            MetricKind::Counter,
                            "Total time spent in the statement, in milliseconds",
                            secs,
                        ),
                        (
                            "mean_time_seconds",
                            MetricKind::Gauge,
                            "Mean time spent in the statement, in milliseconds",
                            mean,
                        ),
                        (
                            "rows",
                            MetricKind::Counter,
                            "Total number of rows retrieved or affected by the statement",
                            nrows,
                        ),
                        (
                            "blk_read_time_seconds",
                            MetricKind::Counter,
                            "Total time the statement spent reading blocks, in milliseconds (if track_io_timing is enabled, otherwise zero)",
                            rd,
                        ),
                        (
                            "blk_write_time_seconds",
                            MetricKind::Counter,
                            "Total time the statement spent writing blocks, in milliseconds (if track_io_timing is enabled, otherwise zero)",
                            wr,
                        ),
                    ] {
                        f.add(
                            kind,
                            &format!("pg_stat_statements_{name}"),
                            help,
                            &labels,
                            &values,
                            v,
                        );
                    }
                }
                None => {
                    let labels = ["user", "datname", "queryid"];
                    let values = [user.as_str(), datname.as_str(), queryid.as_str()];
                    for (name, kind, help, v) in [
                        (
                            "calls_total",
                            MetricKind::Counter,
                            "Number of times executed",
                            calls,
                        ),
                        (
                            "seconds_total",
                            MetricKind::Counter,
                            "Total time spent in the statement, in seconds",
                            secs,
                        ),
                        (
                            "rows_total",
                            MetricKind::Counter,
                            "Total number of rows retrieved or affected by the statement",
                            nrows,
                        ),
                        (
                            "block_read_seconds_total",
                            MetricKind::Counter,
                            "Total time the statement spent reading blocks, in seconds",
                            rd,
                        ),
                        (
                            "block_write_seconds_total",
                            MetricKind::Counter,
                            "Total time the statement spent writing blocks, in seconds",
                            wr,
                        ),
                    ] {
                        f.add(
                            kind,
                            &format!("pg_stat_statements_{name}"),
                            help,
                            &labels,
                            &values,
                            v,
                        );
                    }
                    if opts.include_query && queryid != "other" {
                        let text = c(8).to_label();
                        f.add(
                            MetricKind::Gauge,
                            "pg_stat_statements_query_id",
                            "SQL Query to queryid mapping",
                            &["queryid", "query"],
                            &[queryid.as_str(), text.as_str()],
                            1.0,
                        );
                    }
                }
            }
            // The mean execution time the database dashboard reads, in seconds, in both profiles.
            let mean_labels: &[&str] = if server.is_some() {
                &["datname", "queryid", "rolname", "server"]
            } else {
                &["user", "datname", "queryid"]
            };
            let mean_values: Vec<&str> = match server {
                Some(s) => vec![datname.as_str(), queryid.as_str(), user.as_str(), s],
                None => vec![user.as_str(), datname.as_str(), queryid.as_str()],
            };
            f.add(
                MetricKind::Gauge,
                "pg_stat_statements_mean_exec_time",
                "Mean execution time of the statement, in seconds",
                mean_labels,
                &mean_values,
                mean,
            );
        }
        f.finish(out);
        Ok(())
    }
}
