// The crate documentation is the README, so the two say the same things in the same order.
#![doc = include_str!("../README.md")]
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
