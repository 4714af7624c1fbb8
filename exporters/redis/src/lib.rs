//! A Prometheus exporter for Redis, drop-in for
//! [oliver006/redis_exporter](https://github.com/oliver006/redis_exporter): port 9121, the same
//! metric names, types, label names and HELP, the same flags (Go `-flag=value` and
//! `--flag=value`) and environment variables.
//!
//! What it adds: TLS and bcrypt basic auth through the exporter-toolkit `--web.config.file`,
//! a persistent Redis connection (reconnected on error) with the whole scrape pipelined in one
//! round trip, `CONFIG` detected once and skipped quietly where it is disabled or renamed,
//! a time budget on `--check-keys` / `--count-keys` SCANs, and a `/scrape?target=` endpoint
//! that is off unless enabled and never sends the configured password to a host it was not
//! configured for.
//!
//! # Layout
//!
//! - [`info`]: the pure `INFO` parser (`INFO ALL` text → families), with
//!   [`info_map`] (which fields become which metrics, under `--compat=upstream` or
//!   `debian12`, [`aiplatform_prometheus::Compat`]).
//! - [`resp`], [`address`], [`connection`], [`tls`]: a small RESP2 client, over TCP, TLS
//!   (`rediss://`) or a Unix socket.
//! - [`scrape`]: one scrape of one Redis, producing `redis_*` families.
//! - [`exporter`]: state across scrapes (persistent connection, scrape counters, the
//!   `CONFIG` capability), and [`self_metrics`], the `redis_exporter_*` families.
//! - [`targets`], [`password_file`]: who `/scrape?target=` may reach, with which credentials.
//! - [`args`]: command-line flags and environment; [`config`]: what every scrape does;
//!   [`app`]: the binary's wiring.

//! # The INFO parser
//!
//! ```
//! use aiplatform_prometheus::Compat;
//! use aiplatform_redis_exporter::config::family_set;
//! use aiplatform_redis_exporter::info::{InfoOptions, extract_info_metrics};
//! use aiplatform_redis_exporter::info_map::InfoMap;
//!
//! let map = InfoMap::new(Compat::Debian12, false);
//! let opts = InfoOptions { compat: Compat::Debian12, map: &map, db_count: 2, now_unix: 0.0 };
//! let info = "# Memory\r\nused_memory:1024\r\nused_memory_human:1K\r\n\
//!             ## Keyspace\r\ndb1:keys=3,expires=1,avg_ttl=0\r\n";
//! let mut out = family_set("redis");
//! extract_info_metrics(info, &opts, &mut out);
//! let names: Vec<&str> = out.families().iter().map(|f| f.name()).collect();
//! assert_eq!(
//!     names,
//!     ["redis_memory_used_bytes", "redis_db_keys", "redis_db_keys_expiring", "redis_db_avg_ttl_seconds", "redis_instance_info"]
//! );
//! let db_keys = &out.families()[1];
//! assert_eq!(db_keys.len(), 2, "db1 from INFO, db0 zero-filled");
//! ```

#![deny(missing_docs)]

pub mod address;
pub mod app;
pub mod args;

pub mod config;
pub mod config_metrics;
pub mod connection;
pub mod exporter;
pub mod info;
pub mod info_map;
pub mod keys;
pub mod password_file;
pub mod resp;
pub mod scrape;
pub mod self_metrics;
pub mod targets;
pub mod tls;
