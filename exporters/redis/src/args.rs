//! redis_exporter's flags and environment variables (the subset this exporter implements),
//! plus the shared `--web.*` / `--log.*` flags and this exporter's own additions.
//!
//! Go `flag` syntax is accepted: `-redis.addr=x`, `-redis.addr x` and `--redis.addr=x` are the
//! same; booleans are `-debug`, `-debug=true` or `-debug=false`. The shared
//! [`aiplatform_prometheus::ExporterCli`] rewrites a single-dash argument to
//! double-dash before clap sees it, but only when it names a known long flag, so values
//! such as `-5` are untouched. A flag beats its environment variable, which beats the
//! default, as with redis_exporter's `getEnv` defaults.

use std::time::Duration;

use aiplatform_prometheus::{
    BuildInfo, ExporterCli, GoDurationError, LogFormat, LogLevel, WebArgs, WebDefaults, WebFlag,
};
use clap::builder::BoolishValueParser;
use clap::{Args, Parser, ValueEnum};

use aiplatform_prometheus::Compat;

/// Every flag of the binary.
#[derive(Debug, Clone, Parser)]
#[command(about = "Prometheus exporter for Redis metrics (redis_exporter compatible).")]
pub struct Cli {
    /// The shared `--web.*` and `--log.*` flags.
    #[command(flatten)]
    pub web: WebArgs,
    /// The Redis flags.
    #[command(flatten)]
    pub redis: RedisArgs,
}

/// redis_exporter's own flags.
#[derive(Debug, Clone, Args)]
pub struct RedisArgs {
    /// Address of the Redis instance to scrape (redis://, unix://; empty: only /scrape).
    #[arg(
        long = "redis.addr",
        env = "REDIS_ADDR",
        default_value = "redis://localhost:6379",
        hide_env_values = true
    )]
    pub addr: String,

    /// User name to use for authentication (Redis ACL for Redis 6.0 and newer).
    #[arg(long = "redis.user", env = "REDIS_USER", default_value = "")]
    pub user: String,

    /// Password of the Redis instance to scrape (prefer REDIS_PASSWORD or the password file:
    /// command lines are visible to every user of the host).
    #[arg(
        long = "redis.password",
        env = "REDIS_PASSWORD",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true
    )]
    pub password: String,

    /// Password file: a JSON object of Redis URI to password, used when --redis.password is
    /// empty, and for /scrape targets.
    #[arg(
        long = "redis.password-file",
        env = "REDIS_PASSWORD_FILE",
        default_value = ""
    )]
    pub password_file: String,

    /// Namespace for metrics.
    #[arg(
        long = "namespace",
        env = "REDIS_EXPORTER_NAMESPACE",
        default_value = "redis"
    )]
    pub namespace: String,

    /// Comma separated list of key-patterns to export value and length/size, eg:
    /// 'db3=user_count' will export key 'user_count' from db 3. Patterns are SCANned.
    #[arg(
        long = "check-keys",
        env = "REDIS_EXPORTER_CHECK_KEYS",
        default_value = ""
    )]
    pub check_keys: String,

    /// Comma separated list of single keys to export value and length/size (no SCAN).
    #[arg(
        long = "check-single-keys",
        env = "REDIS_EXPORTER_CHECK_SINGLE_KEYS",
        default_value = ""
    )]
    pub check_single_keys: String,

    /// Comma separated list of patterns to count (eg: 'db0=production_*,db3=sessions:*').
    #[arg(
        long = "count-keys",
        env = "REDIS_EXPORTER_COUNT_KEYS",
        default_value = ""
    )]
    pub count_keys: String,

    /// Approximate number of keys to process in each SCAN call.
    #[arg(
        long = "check-keys-batch-size",
        env = "REDIS_EXPORTER_CHECK_KEYS_BATCH_SIZE",
        default_value_t = 1000
    )]
    pub check_keys_batch_size: u64,

    /// Log format: txt or json (redis_exporter's flag; overrides --log.format).
    #[arg(long = "log-format", env = "REDIS_EXPORTER_LOG_FORMAT", value_enum)]
    pub log_format: Option<RedisLogFormat>,

    /// Log level: debug, info, warn or error (overrides --log.level).
    #[arg(long = "log-level", env = "REDIS_EXPORTER_LOG_LEVEL", value_enum)]
    pub log_level: Option<LogLevel>,

    /// Output verbose debug information.
    #[arg(long = "debug", env = "REDIS_EXPORTER_DEBUG", num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_name = "BOOL", value_parser = BoolishValueParser::new())]
    pub debug: bool,

    /// What to use for the CONFIG command; "-" skips it.
    #[arg(
        long = "config-command",
        env = "REDIS_EXPORTER_CONFIG_COMMAND",
        default_value = "CONFIG"
    )]
    pub config_command: String,

    /// Timeout for each step of talking to Redis (Go duration: 15s, 500ms, 1m30s).
    #[arg(long = "connection-timeout", env = "REDIS_EXPORTER_CONNECTION_TIMEOUT", default_value = "15s", value_parser = parse_go_duration)]
    pub connection_timeout: Duration,

    /// Whether to set client name to redis_exporter.
    #[arg(long = "set-client-name", env = "REDIS_EXPORTER_SET_CLIENT_NAME", num_args = 0..=1, require_equals = true, default_value = "true",
          default_missing_value = "true", value_name = "BOOL", value_parser = BoolishValueParser::new())]
    pub set_client_name: bool,

    /// Whether to include system metrics like e.g. redis_total_system_memory_bytes.
    #[arg(long = "include-system-metrics", env = "REDIS_EXPORTER_INCL_SYSTEM_METRICS", num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_name = "BOOL", value_parser = BoolishValueParser::new())]
    pub include_system_metrics: bool,

    /// Whether to include all config settings as metrics.
    #[arg(long = "include-config-metrics", env = "REDIS_EXPORTER_INCL_CONFIG_METRICS", num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_name = "BOOL", value_parser = BoolishValueParser::new())]
    pub include_config_metrics: bool,

    /// Whether to redact passwords from config metrics (always on: passwords are never
    /// exported; false is accepted and ignored with a warning).
    #[arg(long = "redact-config-metrics", env = "REDIS_EXPORTER_REDACT_CONFIG_METRICS", num_args = 0..=1, require_equals = true, default_value = "true",
          default_missing_value = "true", value_name = "BOOL", value_parser = BoolishValueParser::new())]
    pub redact_config_metrics: bool,

    /// Whether to ping the redis instance after connecting.
    #[arg(long = "ping-on-connect", env = "REDIS_EXPORTER_PING_ON_CONNECT", num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_name = "BOOL", value_parser = BoolishValueParser::new())]
    pub ping_on_connect: bool,

    /// Whether to also export go runtime metrics (here: process and promhttp metrics).
    #[arg(long = "redis-only-metrics", env = "REDIS_EXPORTER_REDIS_ONLY_METRICS", num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_name = "BOOL", value_parser = BoolishValueParser::new())]
    pub redis_only_metrics: bool,

    /// Keep one connection to Redis between scrapes, reconnecting after an error (off:
    /// a new connection per scrape, as redis_exporter does).
    #[arg(long = "persistent-connection", env = "REDIS_EXPORTER_PERSISTENT_CONNECTION", num_args = 0..=1, require_equals = true, default_value = "true",
          default_missing_value = "true", value_name = "BOOL", value_parser = BoolishValueParser::new())]
    pub persistent_connection: bool,

    /// Serve /scrape?target= (multi-target). Targets must be the --redis.addr, keys of the
    /// password file or on --scrape-allowed-targets; each gets only its own credentials.
    #[arg(long = "enable-scrape-endpoint", env = "REDIS_EXPORTER_ENABLE_SCRAPE_ENDPOINT", num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_name = "BOOL", value_parser = BoolishValueParser::new())]
    pub enable_scrape_endpoint: bool,

    /// redis_exporter 1.83's switch: never serve /scrape (wins over --enable-scrape-endpoint).
    #[arg(long = "disable-scrape-endpoint", env = "REDIS_EXPORTER_DISABLE_SCRAPE_ENDPOINT", num_args = 0..=1, require_equals = true, default_value = "false",
          default_missing_value = "true", value_name = "BOOL", value_parser = BoolishValueParser::new())]
    pub disable_scrape_endpoint: bool,

    /// Comma separated Redis addresses /scrape may reach without a password-file entry (they
    /// get no password).
    #[arg(
        long = "scrape-allowed-targets",
        env = "REDIS_EXPORTER_SCRAPE_ALLOWED_TARGETS",
        default_value = ""
    )]
    pub scrape_allowed_targets: String,

    /// Name of the client key file (including full path) if the server requires TLS client
    /// authentication.
    #[arg(
        long = "tls-client-key-file",
        env = "REDIS_EXPORTER_TLS_CLIENT_KEY_FILE"
    )]
    pub tls_client_key_file: Option<std::path::PathBuf>,

    /// Name of the client certificate file (including full path) if the server requires TLS
    /// client authentication.
    #[arg(
        long = "tls-client-cert-file",
        env = "REDIS_EXPORTER_TLS_CLIENT_CERT_FILE"
    )]
    pub tls_client_cert_file: Option<std::path::PathBuf>,

    /// Name of the CA certificate file (including full path) to verify rediss:// servers
    /// (default: the system bundle).
    #[arg(long = "tls-ca-cert-file", env = "REDIS_EXPORTER_TLS_CA_CERT_FILE")]
    pub tls_ca_cert_file: Option<std::path::PathBuf>,

    /// Name to verify the server's certificate against (default: the address's host).
    #[arg(long = "tls-server-name", env = "REDIS_EXPORTER_TLS_SERVER_NAME")]
    pub tls_server_name: Option<String>,

    /// Whether to skip TLS verification.
    #[arg(long = "skip-tls-verification", env = "REDIS_EXPORTER_SKIP_TLS_VERIFICATION", num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true", value_name = "BOOL",
          value_parser = BoolishValueParser::new())]
    pub skip_tls_verification: bool,

    /// Metric names, types and label sets: "upstream" (current redis_exporter) or "debian12"
    /// (redis_exporter 1.45.0).
    #[arg(
        long = "compat",
        env = "REDIS_EXPORTER_COMPAT",
        default_value = "upstream"
    )]
    pub compat: Compat,
}

/// redis_exporter's `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RedisLogFormat {
    /// logfmt text.
    Txt,
    /// One JSON object per line.
    Json,
}

impl RedisArgs {
    /// The log level: `--log-level`, else `debug` with `--debug`, else `--log.level`.
    pub fn log_level(&self, web: &WebArgs) -> LogLevel {
        match (self.log_level, self.debug) {
            (Some(l), _) => l,
            (None, true) => LogLevel::Debug,
            (None, false) => web.log_level,
        }
    }

    /// The log format: `--log-format` (txt is logfmt), else `--log.format`.
    pub fn log_format(&self, web: &WebArgs) -> LogFormat {
        match self.log_format {
            Some(RedisLogFormat::Json) => LogFormat::Json,
            Some(RedisLogFormat::Txt) => LogFormat::Logfmt,
            None => web.log_format,
        }
    }

    /// `--scrape-allowed-targets` split on commas.
    pub fn allowed_targets(&self) -> Vec<String> {
        self.scrape_allowed_targets
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The TLS flags.
    pub fn tls_options(&self) -> crate::tls::TlsOptions {
        crate::tls::TlsOptions {
            ca_cert_file: self.tls_ca_cert_file.clone(),
            client_cert_file: self.tls_client_cert_file.clone(),
            client_key_file: self.tls_client_key_file.clone(),
            skip_verification: self.skip_tls_verification,
            server_name: self.tls_server_name.clone(),
        }
    }

    /// Whether `/scrape` is served.
    pub fn scrape_endpoint(&self) -> bool {
        self.enable_scrape_endpoint && !self.disable_scrape_endpoint
    }
}

/// The command line of `aiplatform-redis-exporter`: port 9121, redis_exporter's environment
/// variables for the shared flags, Go flag syntax.
pub fn exporter_cli(build: BuildInfo) -> ExporterCli {
    ExporterCli::new(
        build,
        WebDefaults::new(":9121")
            .env(WebFlag::ListenAddress, "REDIS_EXPORTER_WEB_LISTEN_ADDRESS")
            .env(WebFlag::TelemetryPath, "REDIS_EXPORTER_WEB_TELEMETRY_PATH"),
    )
    .go_flag_syntax(true)
}

/// A Go `time.ParseDuration` string (`15s`, `1m30s`, `250ms`, `1.5h`); a bare number is
/// taken as seconds.
pub fn parse_go_duration(s: &str) -> Result<Duration, GoDurationError> {
    match s.trim().parse::<f64>() {
        Ok(secs) => Duration::try_from_secs_f64(secs).map_err(|_| GoDurationError {
            input: s.to_owned(),
            reason: "out of range",
        }),
        Err(_) => aiplatform_prometheus::parse_go_duration(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiplatform_prometheus::Invocation;

    fn parse(args: &[&str]) -> Cli {
        let build = BuildInfo::new("redis_exporter", "0.0.0");
        let argv = std::iter::once("redis_exporter").chain(args.iter().copied());
        match exporter_cli(build)
            .try_parse_from::<Cli, _, _>(None, argv)
            .unwrap()
        {
            Invocation::Run(c) => c,
            Invocation::Version(_) => panic!("version"),
        }
    }

    #[test]
    fn go_and_gnu_forms_are_the_same() {
        for args in [
            &[
                "-redis.addr=redis://a:1",
                "-debug",
                "-set-client-name=false",
                "-connection-timeout",
                "2s",
            ][..],
            &[
                "--redis.addr",
                "redis://a:1",
                "--debug=true",
                "--set-client-name=false",
                "--connection-timeout=2s",
            ],
        ] {
            let c = parse(args);
            assert_eq!(c.redis.addr, "redis://a:1", "{args:?}");
            assert!(c.redis.debug);
            assert!(!c.redis.set_client_name);
            assert_eq!(c.redis.connection_timeout, Duration::from_secs(2));
        }
        let c = parse(&[
            "-web.listen-address=127.0.0.1:1",
            "-web.telemetry-path",
            "/m",
            "-log-format=json",
        ]);
        assert_eq!(c.web.listen_addresses, ["127.0.0.1:1"]);
        assert_eq!(c.web.telemetry_path, "/m");
        assert_eq!(c.redis.log_format(&c.web), LogFormat::Json);
        assert_eq!(c.redis.log_level(&c.web), LogLevel::Info);
    }

    #[test]
    fn defaults_match_redis_exporter() {
        let c = parse(&[]);
        assert_eq!(c.web.listen_addresses, [":9121"]);
        assert_eq!(c.redis.namespace, "redis");
        assert_eq!(c.redis.config_command, "CONFIG");
        assert_eq!(c.redis.connection_timeout, Duration::from_secs(15));
        assert_eq!(c.redis.check_keys_batch_size, 1000);
        assert!(
            c.redis.set_client_name
                && c.redis.redact_config_metrics
                && c.redis.persistent_connection
        );
        assert!(!c.redis.scrape_endpoint());
        assert_eq!(c.redis.compat, Compat::Upstream);
        assert_eq!(c.redis.log_format(&c.web), LogFormat::Logfmt);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_go_duration("-3").unwrap_err().reason, "out of range");
        assert!(
            parse_go_duration("").is_err()
                && parse_go_duration("5x").is_err()
                && parse_go_duration("s").is_err()
        );
    }
}
