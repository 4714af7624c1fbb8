//! A drop-in replacement for Prometheus' [node_exporter] on Linux: the binary
//! `aiplatform-node-exporter` listens on `:9100` with node_exporter's flags and serves the same
//! metric names, types, label names and HELP for the collectors it implements, lighter and
//! faster.
//!
//! # Collectors
//!
//! `cpu`, `diskstats`, `filefd`, `filesystem`, `loadavg`, `meminfo`, `netdev`, `netstat`,
//! `os`, `pressure`, `sockstat`, `stat`, `textfile`, `time`, `uname` and `vmstat`, all on by
//! default, one module each under [`collectors`], registered by name from one table
//! ([`collectors::COLLECTORS`]). `--collector.<name>` / `--no-collector.<name>`,
//! `--collector.disable-defaults` and the `collect[]` / `exclude[]` query parameters select
//! them, as in node_exporter. Every module separates a pure parser (`parse_x(&str)`) from
//! the collector that reads the file, and every root comes from the `--path.*` flags
//! ([`paths::Paths`]), so the whole exporter runs against a fixture tree.
//!
//! # Compatibility
//!
//! The default follows current upstream node_exporter; `--compat=debian12`
//! ([`aiplatform_prometheus::Compat`]) reproduces the node_exporter 1.5.0 that Debian 12 ships
//! as `prometheus-node-exporter`, including that package's flag defaults:
//!
//! | | `upstream` (default) | `debian12` |
//! |---|---|---|
//! | `node_filesystem_*` labels | `device`, `mountpoint`, `fstype`, `device_error` | no `device_error` |
//! | `node_filesystem_readonly` of a failing mount | emitted | omitted |
//! | `node_filesystem_mount_info` | yes | no |
//! | mounts read from | `/proc/1/mountinfo` | `/proc/1/mounts` |
//! | `node_memory_*` | procfs' list of known keys | every key of `/proc/meminfo` |
//! | `node_disk_info` | with `rotational` | without |
//! | `node_disk_device_mapper_backing_device_info` | yes | no |
//! | diskstats default exclude | `z?ram` too | `ram` only |
//! | `node_pressure_irq_stalled_seconds_total` | yes | no |
//! | `node_os_support_end_timestamp_seconds` | yes | no |
//! | netstat default fields | + `TCPOFOQueue`, `TCPRcvQDrop` | 1.5.0's |
//! | offline CPUs | dropped | kept in the cache |
//! | flag defaults | upstream's | the Debian package's (see below) |
//!
//! Debian's package changes three defaults of 1.5.0, and `debian12` follows it so that it can
//! replace `prometheus-node-exporter` as installed: mount points excluded
//! `^/(dev|proc|run|sys|mnt|media|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)`,
//! netdev devices excluded `^lo$`, and the textfile directory
//! `/var/lib/prometheus/node-exporter`.
//!
//! Self-metrics: `process_*` and `promhttp_metric_handler_*` with client_golang's names and
//! HELP, `node_exporter_build_info`, and `node_scrape_collector_{success,duration_seconds}`.
//! Go's runtime metrics (`go_*`) are **not** produced: a Rust process has no garbage
//! collector or goroutines to describe, and made-up values would mislead.
//!
//! # Behaviour under faults
//!
//! A collector that fails or runs out of time sets `node_scrape_collector_success` to 0; the
//! scrape still answers 200 with everything else. A `statfs` that hangs (a dead network
//! mount) marks that mount's `node_filesystem_device_error` without holding up the scrape,
//! and costs at most one waiting thread per stuck mount ([`collectors::statfs`]).
//!
//! # Not implemented
//!
//! The other node_exporter collectors (arp, hwmon, systemd, ...), `--collector.cpu.info`,
//! `--collector.netdev.address-info`, `--web.systemd-socket`, and `/debug/pprof`.
//!
//! [node_exporter]: https://github.com/prometheus/node_exporter

#![deny(missing_docs)]

pub mod app;
pub mod args;
pub mod collectors;
pub mod config;
pub mod error;
pub mod filter;
mod number;
pub mod paths;
mod read;
pub mod self_metrics;
