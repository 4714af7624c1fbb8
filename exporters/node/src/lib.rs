// The crate documentation is the README, so the two say the same things in the same order.
#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod app;
pub mod args;
mod attr;
pub mod btrfs_ioctl;
pub mod collectors;
pub mod config;
pub mod error;
pub mod filter;
mod number;
pub mod paths;
mod read;
pub mod self_metrics;
mod sysfs;
