//! Configuration with sane defaults, and the guard that flushes on shutdown.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use aiplatform_metrics::Registry;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::Error;
use crate::clock::{Clock, SystemClock};
use crate::encode::ecs::EcsStatic;
use crate::event::LogResource;
use crate::export::{Encoding, EventEncoder};
use crate::fingerprint::Fingerprint;
use crate::layer::{LogLayer, Shared};
use crate::metrics::SelfMetrics;
use crate::notice::Notice;
use crate::output::{Format, Output};
use crate::redact::Redactor;
use crate::sink::Sink;

/// The `service.*` fields, resolved once.
#[derive(Debug, Clone)]
pub(crate) struct ServiceInfo {
    pub(crate) name: String,
    pub(crate) version: Option<String>,
    pub(crate) environment: Option<String>,
    pub(crate) node_name: Option<String>,
}

/// Configures logging. Start from [`builder()`](crate::builder).
///
/// Every setting has a default:
///
/// | setting | default |
/// |---|---|
/// | `service.name` | `OTEL_SERVICE_NAME`, else `SERVICE_NAME`, else `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, else the executable's name |
/// | `service.version` | `SERVICE_VERSION`, else `service.version` in `OTEL_RESOURCE_ATTRIBUTES`; omitted if none |
/// | `service.environment` | `DEPLOYMENT_ENVIRONMENT`, else `deployment.environment(.name)` in `OTEL_RESOURCE_ATTRIBUTES`; omitted if none |
/// | `service.node.name` | `SERVICE_NODE_NAME`; omitted if unset |
/// | `host.name` | `HOSTNAME`, else the kernel's host name |
/// | level filter | `RUST_LOG`, else `info` (`EnvFilter` directive syntax) |
/// | redaction | [`Redactor::new()`] (all built-in rules, `[REDACTED]`) |
/// | fingerprint | [`Fingerprint::new()`] (all fields, per occurrence) |
/// | outputs | ECS JSON on stdout |
/// | self-metrics | a private [`Registry`], see [`LogGuard::registry`] |
/// | shutdown deadline | 5 s |
#[must_use = "a builder does nothing until built or installed"]
pub struct LogBuilder {
    name: Option<String>,
    version: Option<String>,
    environment: Option<String>,
    node_name: Option<String>,
    host_name: Option<String>,
    filter: Option<String>,
    redactor: Redactor,
    fingerprint: Option<Fingerprint>,
    outputs: Vec<Output>,
    clock: Arc<dyn Clock>,
    registry: Option<Registry>,
    origin: bool,
    ecs_fields: Vec<String>,
    shutdown_timeout: Duration,
}

impl std::fmt::Debug for LogBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogBuilder")
            .field("name", &self.name)
            .field("filter", &self.filter)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

impl Default for LogBuilder {
    fn default() -> Self {
        LogBuilder {
            name: None,
            version: None,
            environment: None,
            node_name: None,
            host_name: None,
            filter: None,
            redactor: Redactor::new(),
            fingerprint: Some(Fingerprint::new()),
            outputs: Vec::new(),
            clock: Arc::new(SystemClock),
            registry: None,
            origin: true,
            ecs_fields: Vec::new(),
            shutdown_timeout: Duration::from_secs(5),
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A key from `OTEL_RESOURCE_ATTRIBUTES` (`k1=v1,k2=v2`, values percent-decoded loosely).
fn otel_attr(key: &str) -> Option<String> {
    let attrs = env("OTEL_RESOURCE_ATTRIBUTES")?;
    attrs.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == key).then(|| v.trim().replace("%20", " ").replace("%2C", ","))
    })
}

fn default_service_name() -> String {
    env("OTEL_SERVICE_NAME")
        .or_else(|| env("SERVICE_NAME"))
        .or_else(|| otel_attr("service.name"))
        .or_else(|| {
            std::env::current_exe()
                .ok()?
                .file_stem()?
                .to_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown_service".to_owned())
}

fn host_name() -> String {
    if let Some(h) = env("HOSTNAME") {
        return h;
    }
    #[cfg(unix)]
    {
        let mut buf = [0u8; 256];
        // SAFETY: the pointer and length describe `buf`, which outlives the call; gethostname
        // writes at most `len` bytes.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            if let Ok(s) = std::str::from_utf8(&buf[..end])
                && !s.is_empty()
            {
                return s.to_owned();
            }
        }
    }
    "localhost".to_owned()
}

impl LogBuilder {
    /// Sets `service.name` (and `event.dataset`).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets `service.version`.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Sets `service.environment` (`prod`, `staging`, ...).
    pub fn service_environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(environment.into());
        self
    }

    /// Sets `service.node.name` (the instance, when several run the same service).
    pub fn service_node_name(mut self, node: impl Into<String>) -> Self {
        self.node_name = Some(node.into());
        self
    }

    /// Sets `host.name`.
    pub fn host_name(mut self, host: impl Into<String>) -> Self {
        self.host_name = Some(host.into());
        self
    }

    /// Level filter in `RUST_LOG` syntax (`info,my_crate=debug`), used by
    /// [`init`](Self::init) and [`env_filter`](Self::env_filter). Overrides `RUST_LOG`.
    pub fn filter(mut self, directives: impl Into<String>) -> Self {
        self.filter = Some(directives.into());
        self
    }

    /// Replaces the redaction rules.
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Replaces the fingerprint settings.
    pub fn fingerprint(mut self, fingerprint: Fingerprint) -> Self {
        self.fingerprint = Some(fingerprint);
        self
    }

    /// Writes no `event.hash`.
    pub fn without_fingerprint(mut self) -> Self {
        self.fingerprint = None;
        self
    }

    /// Adds an output. Without any, events go to stdout as ECS JSON.
    pub fn output(mut self, output: Output) -> Self {
        self.outputs.push(output);
        self
    }

    /// Adds a Logstash output when the environment variable `var` holds an address
    /// (`host:port`), for example `AIPLATFORM_LOGSTASH_ADDR`; does nothing when it is unset or
    /// empty. A malformed address fails [`build`](Self::build) with [`Error::Address`].
    ///
    /// ```
    /// let builder = aiplatform_logging::builder().logstash_from_env("MYAPP_UNSET_LOGSTASH_ADDR");
    /// # let _ = builder;
    /// ```
    pub fn logstash_from_env(self, var: &str) -> Self {
        match env(var) {
            Some(addr) => self.output(Output::logstash(crate::LogstashConfig::new(addr))),
            None => self,
        }
    }

    /// Uses this clock for `@timestamp` (tests pin it with [`FixedClock`](crate::FixedClock)).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Registers the self-metrics in this registry (instead of a private one).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Whether to write `log.origin.file.*` (default on).
    pub fn log_origin(mut self, on: bool) -> Self {
        self.origin = on;
        self
    }

    /// Treats these field names as ECS fields (kept as they are) rather than labels.
    pub fn ecs_fields<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.ecs_fields.extend(names.into_iter().map(Into::into));
        self
    }

    /// How long dropping the guard may take to deliver what is queued (default 5 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// The level filter: [`filter`](Self::filter), else `RUST_LOG`, else `info`.
    pub fn env_filter(&self) -> Result<EnvFilter, Error> {
        let directives = self
            .filter
            .clone()
            .or_else(|| env("RUST_LOG"))
            .unwrap_or_else(|| "info".to_owned());
        EnvFilter::try_new(&directives).map_err(|source| Error::Filter { directives, source })
    }

    /// Builds the layer (without a filter) and the guard that owns its sinks.
    ///
    /// ```
    /// use tracing_subscriber::prelude::*;
    ///
    /// let builder = aiplatform_logging::builder().service_name("billing");
    /// let filter = builder.env_filter().unwrap();
    /// let (layer, guard) = builder.build().unwrap();
    /// let subscriber = tracing_subscriber::registry().with(layer.with_filter(filter));
    /// tracing::subscriber::with_default(subscriber, || tracing::info!("ready"));
    /// guard.flush(std::time::Duration::from_secs(1));
    /// ```
    pub fn build(self) -> Result<(LogLayer, LogGuard), Error> {
        let registry = self.registry.unwrap_or_default();
        let metrics = SelfMetrics::register(&registry)?;
        let service = ServiceInfo {
            name: self.name.unwrap_or_else(default_service_name),
            version: self
                .version
                .or_else(|| env("SERVICE_VERSION"))
                .or_else(|| otel_attr("service.version")),
            environment: self
                .environment
                .or_else(|| env("DEPLOYMENT_ENVIRONMENT"))
                .or_else(|| otel_attr("deployment.environment.name"))
                .or_else(|| otel_attr("deployment.environment")),
            node_name: self.node_name.or_else(|| env("SERVICE_NODE_NAME")),
        };
        let host = self.host_name.unwrap_or_else(host_name);
        let pid = std::process::id();
        let mut outputs = self.outputs;
        if outputs.is_empty() {
            outputs.push(Output::stdout(Format::Json));
        }
        let ecs = Arc::new(EcsStatic::new(
            &service,
            host.clone(),
            pid,
            self.origin,
            self.ecs_fields,
        ));
        let resource = Arc::new(LogResource {
            service_name: service.name.clone(),
            service_version: service.version.clone(),
            service_environment: service.environment.clone(),
            service_node_name: service.node_name.clone(),
            host_name: host.clone(),
            pid,
        });
        let seq = Arc::new(AtomicU64::new(0));
        let mut sinks: Vec<(Format, Arc<dyn Sink>)> = Vec::with_capacity(outputs.len());
        let mut custom: Vec<(Arc<dyn EventEncoder>, Arc<dyn Sink>)> = Vec::new();
        let mut started: Vec<Arc<dyn Sink>> = Vec::new();
        for out in outputs {
            let name = out
                .name
                .clone()
                .unwrap_or_else(|| out.default_name().to_owned());
            let sm = metrics.sink(&name);
            let encoding = out.encoding();
            let notice = Notice::new(
                encoding.clone(),
                ecs.clone(),
                resource.clone(),
                self.clock.clone(),
                seq.clone(),
                self.redactor.clone(),
            );
            let sink =
                crate::sink::start(out.target, &name, (out.capacity, out.policy), notice, sm);
            let sink = match sink {
                Ok(s) => s,
                Err(e) => {
                    for s in &started {
                        s.shutdown(Duration::from_millis(100));
                    }
                    return Err(e);
                }
            };
            started.push(sink.clone());
            match encoding {
                Encoding::Format(format) => sinks.push((format, sink)),
                Encoding::Custom(encoder) => custom.push((encoder, sink)),
            }
        }
        let mut formats: Vec<Format> = Vec::new();
        for (f, _) in &sinks {
            if !formats.contains(f) {
                formats.push(*f);
            }
        }
        let layer = LogLayer::new(Shared {
            redactor: self.redactor,
            ecs,
            fingerprint: self.fingerprint,
            outputs: sinks,
            custom,
            formats,
            resource,
            clock: self.clock,
            metrics,
            service: service.name,
            host,
            pid,
            seq,
        });
        let guard = LogGuard {
            sinks: started,
            registry,
            timeout: self.shutdown_timeout,
        };
        Ok((layer, guard))
    }

    /// Builds the layer with its level filter and installs it as the global subscriber (also
    /// capturing `log` records). Keep the returned guard alive until the program ends.
    pub fn init(self) -> Result<LogGuard, Error> {
        let filter = self.env_filter()?;
        let (layer, guard) = self.build()?;
        tracing_subscriber::registry()
            .with(layer.with_filter(filter))
            .try_init()
            .map_err(Error::AlreadyInstalled)?;
        Ok(guard)
    }
}

/// Owns the sinks' writer threads. Dropping it delivers what is queued, up to the shutdown
/// deadline, then stops them; hold it in `main`.
#[must_use = "dropping the guard stops the log writers"]
pub struct LogGuard {
    sinks: Vec<Arc<dyn Sink>>,
    registry: Registry,
    timeout: Duration,
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogGuard")
            .field("sinks", &self.sinks.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl LogGuard {
    /// Waits until every line logged so far is delivered, up to `timeout` in total. Returns
    /// whether everything was. For Logstash, delivered means confirmed (acknowledged by the
    /// peer, and the connection still up [`confirm_after`](crate::LogstashConfig::confirm_after)
    /// later) or spooled, so a flush takes at least that long.
    pub fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        self.sinks
            .iter()
            .all(|s| s.flush(deadline.saturating_duration_since(Instant::now())))
    }

    /// The registry holding the self-metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Stops now, as dropping would.
    pub fn shutdown(self) {}
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        let deadline = Instant::now() + self.timeout;
        for s in &self.sinks {
            s.shutdown(deadline.saturating_duration_since(Instant::now()));
        }
    }
}
