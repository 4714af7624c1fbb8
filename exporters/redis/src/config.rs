//! What every scrape of a target does, built once from the command line
//! ([`crate::app::App::from_cli`]) or by hand (tests, embedding).

use std::time::Duration;

use aiplatform_prometheus::Compat;
use aiplatform_prometheus::family::{FamilySet, Naming};

use crate::info_map::InfoMap;
use crate::keys::KeyChecks;

/// What every scrape of a target does (from the flags).
#[derive(Debug)]
pub struct Config {
    /// `--namespace`.
    pub namespace: String,
    /// `--compat`.
    pub compat: Compat,
    /// The INFO field table for `compat`.
    pub info_map: std::sync::Arc<InfoMap>,
    /// `--config-command`; `None` for `-` (skip).
    pub config_command: Option<String>,
    /// `--include-config-metrics`.
    pub include_config_metrics: bool,
    /// `--ping-on-connect`.
    pub ping_on_connect: bool,
    /// `--set-client-name`: the name, or `None`.
    pub client_name: Option<String>,
    /// `--connection-timeout`: the limit of each network step.
    pub connection_timeout: Duration,
    /// `--check-keys` and friends.
    pub keys: KeyChecks,
    /// Keep the connection between scrapes (`--persistent-connection`, default on).
    pub persistent: bool,
    /// TLS settings for `rediss://` targets.
    pub tls: std::sync::Arc<crate::tls::RedisTls>,
}

impl Config {
    /// The same settings for a `/scrape` target: no connection kept between requests.
    pub fn one_shot(&self) -> Config {
        Config {
            namespace: self.namespace.clone(),
            compat: self.compat,
            info_map: self.info_map.clone(),
            config_command: self.config_command.clone(),
            include_config_metrics: self.include_config_metrics,
            ping_on_connect: self.ping_on_connect,
            client_name: self.client_name.clone(),
            connection_timeout: self.connection_timeout,
            keys: self.keys.clone(),
            persistent: false,
            tls: self.tls.clone(),
        }
    }
}

/// The families of one scrape of a target: redis_exporter's exact names under `namespace`.
pub fn family_set(namespace: &str) -> FamilySet {
    // A scrape builds some 150 families.
    FamilySet::new(Naming::AsGiven)
        .with_namespace(namespace)
        .with_capacity(192)
}
