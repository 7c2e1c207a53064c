//! Configuration: defaults → TOML file → `GANTRY_*` environment → `*_FILE`
//! secrets → command-line flags.
//!
//! Nested keys use `__` in the environment (`GANTRY_JOBS__CONCURRENCY=8`).
//! Unknown keys in the TOML file are errors that name the key; unknown
//! `GANTRY_` variables are warnings, because a typo in a deployment's
//! environment should be visible but not take the service down.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `Secure` cookie policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CookieSecure {
    /// Secure when the public URL is https or a trusted proxy says the request was https.
    Auto,
    /// Always.
    Always,
    /// Never (plain-HTTP development).
    Never,
}

/// Login and session tuning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Absolute session lifetime, hours.
    pub session_ttl_hours: u64,
    /// Idle session timeout, minutes.
    pub session_idle_minutes: u64,
    /// Failed logins per username or IP before throttling.
    pub max_failures: u32,
    /// Longest enforced wait once throttled, seconds.
    pub max_lockout_seconds: u64,
    /// Anyone who can reach the panel may create an account (role viewer).
    pub self_registration: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { session_ttl_hours: 12, session_idle_minutes: 120, max_failures: 5, max_lockout_seconds: 900, self_registration: false }
    }
}

/// HTTP tuning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Trust `X-Forwarded-For`/`-Proto` (only behind your own reverse proxy).
    pub trust_forwarded_headers: bool,
    /// `Secure` cookie policy.
    pub cookie_secure: CookieSecure,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { trust_forwarded_headers: false, cookie_secure: CookieSecure::Auto, max_body_bytes: 1024 * 1024 }
    }
}

/// Database pool tuning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DbConfig {
    /// Maximum pool size.
    pub max_connections: u32,
    /// Connections kept open.
    pub min_connections: u32,
    /// Wait for a connection, seconds.
    pub acquire_timeout_seconds: u64,
}

impl Default for DbConfig {
    fn default() -> Self {
        Self { max_connections: 16, min_connections: 1, acquire_timeout_seconds: 5 }
    }
}

/// Job runner tuning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Jobs run at once on this replica.
    pub concurrency: usize,
    /// Lease length, seconds; a crashed replica's jobs are retried after it.
    pub lease_seconds: u64,
    /// Idle poll interval, milliseconds.
    pub poll_ms: u64,
    /// First retry delay, seconds (doubles per attempt).
    pub backoff_base_seconds: u64,
    /// Longest retry delay, seconds.
    pub backoff_max_seconds: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self { concurrency: 8, lease_seconds: 30, poll_ms: 1000, backoff_base_seconds: 5, backoff_max_seconds: 600 }
    }
}

/// Event outbox tuning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// Days to keep events.
    pub retention_days: u64,
    /// How often each replica polls the outbox, milliseconds.
    pub poll_ms: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self { retention_days: 30, poll_ms: 500 }
    }
}

/// Servers module tuning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServersConfig {
    /// Seconds between availability probes (0 disables them).
    pub probe_interval_seconds: u64,
    /// Servers worked on at once (probes, checks, deployments).
    pub concurrency: usize,
    /// SSH connect timeout, seconds.
    pub connect_timeout_seconds: u64,
    /// Remote command timeout, seconds.
    pub command_timeout_seconds: u64,
    /// Close pooled SSH connections idle this long, seconds.
    pub idle_timeout_seconds: u64,
}

impl Default for ServersConfig {
    fn default() -> Self {
        Self {
            probe_interval_seconds: 60,
            concurrency: 64,
            connect_timeout_seconds: 5,
            command_timeout_seconds: 60,
            idle_timeout_seconds: 300,
        }
    }
}

/// Certificates (TLS module) tuning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// How often Gantry looks for ACME certificates due for renewal, seconds.
    pub renew_check_interval_seconds: u64,
    /// Renew at this fraction of a certificate's lifetime (0.5–0.9; default two thirds), minus up to a twentieth at random.
    pub renew_fraction: f64,
    /// First wait after a failed issuance or renewal, seconds; doubles per failure.
    pub retry_base_seconds: u64,
    /// Longest wait between retries, seconds.
    pub retry_max_seconds: u64,
    /// How long an issuance waits for its domain to be live on its server, seconds.
    pub live_timeout_seconds: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            renew_check_interval_seconds: 3600,
            renew_fraction: 2.0 / 3.0,
            retry_base_seconds: 300,
            retry_max_seconds: 6 * 3600,
            live_timeout_seconds: 120,
        }
    }
}

/// Proxmox VE module tuning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PveConfig {
    /// Default VMID range for new clusters (`first-last`; each cluster can set its own).
    pub vmid_range: String,
    /// VM operations at once, cluster-wide.
    pub max_parallel: usize,
    /// VM operations at once per node.
    pub per_node: usize,
    /// Clones at once per storage (Proxmox's storage lock serializes them; waiting on it times out after 10 s).
    pub per_storage: usize,
    /// Longest wait for one Proxmox task (full clones of large disks), seconds.
    pub task_timeout_seconds: u64,
    /// First task-polling interval, milliseconds (it grows to 2 s).
    pub poll_ms: u64,
    /// Scale of retry backoff (1.0; tests against a fast simulator shrink it).
    pub retry_scale: f64,
    /// Timeout of one Proxmox API request, seconds.
    pub request_timeout_seconds: u64,
    /// Renew password tickets after this many seconds (Proxmox tickets live 7200).
    pub ticket_renew_seconds: u64,
    /// Placed VMs keep counting for placement this long after they are done (Proxmox's metrics lag ~10 s), seconds.
    pub reservation_window_seconds: u64,
}

impl Default for PveConfig {
    fn default() -> Self {
        Self {
            vmid_range: "10000-19999".into(),
            max_parallel: 16,
            per_node: 4,
            per_storage: 8,
            task_timeout_seconds: 3600,
            poll_ms: 250,
            retry_scale: 1.0,
            request_timeout_seconds: 30,
            ticket_renew_seconds: 3600,
            reservation_window_seconds: 30,
        }
    }
}

/// Tasks module tuning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TasksConfig {
    /// Largest attachment, bytes.
    pub max_attachment_bytes: u64,
    /// Attachment objects no task refers to are removed once older than this, seconds.
    pub orphan_grace_seconds: u64,
    /// How often the attachment sweeper runs, seconds (0 turns it off).
    pub sweep_interval_seconds: u64,
}

impl Default for TasksConfig {
    fn default() -> Self {
        Self { max_attachment_bytes: 25 * 1024 * 1024, orphan_grace_seconds: 3600, sweep_interval_seconds: 600 }
    }
}

/// Monitoring: the event log's retention and proxy traffic statistics.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitoringConfig {
    /// Event-log entries older than this are pruned in the background, days.
    pub event_retention_days: u64,
    /// How often every managed proxy's traffic is read over SSH, seconds (0 turns collection off).
    pub traffic_interval_seconds: u64,
    /// Per-minute traffic points are kept this long, then folded into per-hour points, hours.
    pub traffic_minute_window_hours: u64,
    /// Per-hour traffic points are kept this long, days.
    pub traffic_hour_retention_days: u64,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        Self { event_retention_days: 30, traffic_interval_seconds: 60, traffic_minute_window_hours: 48, traffic_hour_retention_days: 90 }
    }
}

/// Proxy module tuning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// Domain changes go live by themselves (dynamic reconciliation); off, they wait as pending plans for an operator.
    pub auto_apply: bool,
    /// Quiet time after the last domain edit before a server is reconciled, milliseconds.
    pub debounce_ms: u64,
    /// Longest a burst of edits can hold a reconcile back, milliseconds.
    pub max_delay_ms: u64,
    /// How often desired and live configurations are compared on every server, seconds.
    pub reconcile_interval_seconds: u64,
    /// How often Gantry reads back its files from every server to detect drift, seconds (0 disables).
    pub drift_interval_seconds: u64,
    /// A worker's hold on a server without renewal, seconds; a crashed replica's apply is taken over after it.
    pub lease_seconds: u64,
    /// How long an apply waits for nginx to serve the new generation, seconds.
    pub verify_timeout_seconds: u64,
    /// Generations kept per server.
    pub keep_generations: u64,
    /// Servers a rollout applies at once after its canary.
    pub rollout_parallel: usize,
    /// Failed servers a rollout tolerates before it stops.
    pub rollout_max_failures: usize,
    /// Default port of the loopback status server on each proxy (server parameter `proxy_status_port` overrides).
    pub status_port: u16,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            auto_apply: true,
            debounce_ms: 500,
            max_delay_ms: 5000,
            reconcile_interval_seconds: 60,
            drift_interval_seconds: 300,
            lease_seconds: 60,
            verify_timeout_seconds: 10,
            keep_generations: 50,
            rollout_parallel: 4,
            rollout_max_failures: 0,
            status_port: 8089,
        }
    }
}

/// The effective configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where SQLite, the generated master key and local files live.
    pub data_dir: PathBuf,
    /// `sqlite://…`, `mysql://…` or `postgres://…`; default: SQLite in the data directory.
    #[serde(serialize_with = "ser_secret")]
    pub database_url: Option<SecretString>,
    /// File holding the database URL.
    pub database_url_file: Option<PathBuf>,
    /// Base64 32-byte master key; default: generated into the data directory.
    #[serde(serialize_with = "ser_secret")]
    pub master_key: Option<SecretString>,
    /// File holding the master key.
    pub master_key_file: Option<PathBuf>,
    /// Older master keys still accepted for decryption (rotation).
    #[serde(serialize_with = "ser_secrets")]
    pub master_key_previous: Vec<SecretString>,
    /// Password for the `admin` user created on first start.
    #[serde(serialize_with = "ser_secret")]
    pub admin_password: Option<SecretString>,
    /// File holding the first admin password.
    pub admin_password_file: Option<PathBuf>,
    /// The URL users reach Gantry at (decides the `Secure` cookie in auto mode).
    pub public_url: Option<String>,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// Log filter, e.g. `info` or `info,gantry_store=debug`.
    pub log_level: String,
    /// Seconds SIGTERM waits for requests and jobs before exiting.
    pub shutdown_grace_seconds: u64,
    /// Login and sessions.
    pub auth: AuthConfig,
    /// HTTP.
    pub http: HttpConfig,
    /// Database pool.
    pub db: DbConfig,
    /// Jobs.
    pub jobs: JobsConfig,
    /// Events.
    pub events: EventsConfig,
    /// Servers.
    pub servers: ServersConfig,
    /// Reverse-proxy deployment.
    pub proxy: ProxyConfig,
    /// Certificates.
    pub tls: TlsConfig,
    /// Proxmox VE stands.
    pub pve: PveConfig,
    /// Tasks.
    pub tasks: TasksConfig,
    /// Monitoring.
    pub monitoring: MonitoringConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            database_url_file: None,
            master_key: None,
            master_key_file: None,
            master_key_previous: Vec::new(),
            admin_password: None,
            admin_password_file: None,
            public_url: None,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            shutdown_grace_seconds: 30,
            auth: AuthConfig::default(),
            http: HttpConfig::default(),
            db: DbConfig::default(),
            jobs: JobsConfig::default(),
            events: EventsConfig::default(),
            servers: ServersConfig::default(),
            proxy: ProxyConfig::default(),
            tls: TlsConfig::default(),
            pve: PveConfig::default(),
            tasks: TasksConfig::default(),
            monitoring: MonitoringConfig::default(),
        }
    }
}

fn ser_secret<S: serde::Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_str("[redacted]"),
        None => s.serialize_none(),
    }
}

fn ser_secrets<S: serde::Serializer>(v: &[SecretString], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(v.len()))?;
    for _ in v {
        seq.serialize_element("[redacted]")?;
    }
    seq.end()
}

/// A configuration error that names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A value is invalid.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Values given on the command line (they win over everything else).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--data-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--log-format`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// `--log-level`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
}

/// Environment variables the test suite uses; never warned about.
const RESERVED_ENV_PREFIXES: &[&str] =
    &["GANTRY_TEST_", "GANTRY_CONFIG", "GANTRY_BENCH_", "GANTRY_TESTFLEET_", "GANTRY_BIN", "GANTRY_URL", "GANTRY_TOKEN", "GANTRY_PVESIM_"];

/// Every key the configuration knows, dotted (`jobs.concurrency`).
pub fn known_keys() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Ok(v) = serde_json::to_value(Config::default()) {
        flatten("", &v, &mut out);
    }
    out
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeSet<String>) {
    if let serde_json::Value::Object(map) = v {
        for (k, v) in map {
            let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            if v.is_object() {
                flatten(&key, v, out);
            } else {
                out.insert(key);
            }
        }
    }
}

/// `GANTRY_*` variables that match no configuration key.
pub fn unknown_env(vars: impl Iterator<Item = (String, String)>) -> Vec<String> {
    let known = known_keys();
    vars.map(|(k, _)| k)
        .filter(|k| k.starts_with("GANTRY_"))
        .filter(|k| !RESERVED_ENV_PREFIXES.iter().any(|p| k.starts_with(p)))
        .filter(|k| {
            let key = k.trim_start_matches("GANTRY_").to_ascii_lowercase().replace("__", ".");
            !known.contains(&key)
        })
        .collect()
}

fn read_secret_file(key: &str, path: &Path) -> Result<SecretString, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Invalid(format!("{key}: cannot read {}: {e}", path.display())))?;
    Ok(SecretString::from(text.trim_end_matches(['\r', '\n']).to_string()))
}

impl Config {
    /// Loads the layered configuration.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::File { path: path.to_path_buf(), reason: "no such file".into() });
            }
            fig = fig.merge(Toml::file_exact(path));
        }
        let known = known_keys();
        fig = fig
            .merge(
                Env::prefixed("GANTRY_")
                    .split("__")
                    .filter(move |k| known.contains(&k.as_str().to_ascii_lowercase()))
                    .map(|k| k.as_str().to_ascii_lowercase().into()),
            )
            .merge(Serialized::defaults(overrides.clone()));
        let mut cfg: Config = fig.extract().map_err(|e| ConfigError::Invalid(describe(&e)))?;
        if cfg.database_url.is_none()
            && let Some(p) = cfg.database_url_file.clone()
        {
            cfg.database_url = Some(read_secret_file("database_url_file", &p)?);
        }
        if cfg.master_key.is_none()
            && let Some(p) = cfg.master_key_file.clone()
        {
            cfg.master_key = Some(read_secret_file("master_key_file", &p)?);
        }
        if cfg.admin_password.is_none()
            && let Some(p) = cfg.admin_password_file.clone()
        {
            cfg.admin_password = Some(read_secret_file("admin_password_file", &p)?);
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |k: &str, m: &str| Err(ConfigError::Invalid(format!("{k}: {m}")));
        if let Some(url) = &self.database_url
            && gantry_store::Backend::from_url(url.expose_secret()).is_none()
        {
            return bad("database_url", "must start with sqlite://, mysql:// or postgres://");
        }
        if let Some(k) = &self.master_key
            && gantry_core::secrets::decode_key(k.expose_secret()).is_err()
        {
            return bad("master_key", "must be 32 bytes encoded as base64 (openssl rand -base64 32)");
        }
        for k in &self.master_key_previous {
            if gantry_core::secrets::decode_key(k.expose_secret()).is_err() {
                return bad("master_key_previous", "each key must be 32 bytes encoded as base64");
            }
        }
        if let Some(u) = &self.public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return bad("public_url", "must start with http:// or https://");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log_level).is_err() {
            return bad("log_level", "is not a valid filter (e.g. info, debug, info,gantry_store=debug)");
        }
        if self.jobs.concurrency == 0 || self.jobs.concurrency > 1024 {
            return bad("jobs.concurrency", "must be between 1 and 1024");
        }
        if self.jobs.lease_seconds < 3 {
            return bad("jobs.lease_seconds", "must be at least 3");
        }
        if self.db.max_connections == 0 || self.db.min_connections > self.db.max_connections {
            return bad("db.max_connections", "must be at least 1 and at least db.min_connections");
        }
        if self.http.max_body_bytes < 1024 {
            return bad("http.max_body_bytes", "must be at least 1024");
        }
        if self.servers.concurrency == 0 || self.servers.concurrency > 4096 {
            return bad("servers.concurrency", "must be between 1 and 4096");
        }
        if !(1..=60).contains(&self.servers.connect_timeout_seconds) {
            return bad("servers.connect_timeout_seconds", "must be between 1 and 60");
        }
        if self.auth.max_failures == 0 {
            return bad("auth.max_failures", "must be at least 1");
        }
        if self.proxy.debounce_ms > 60_000 || self.proxy.max_delay_ms < self.proxy.debounce_ms {
            return bad("proxy.debounce_ms", "must be at most 60000 and at most proxy.max_delay_ms");
        }
        if self.proxy.reconcile_interval_seconds == 0 {
            return bad("proxy.reconcile_interval_seconds", "must be at least 1");
        }
        if self.proxy.lease_seconds < 2 {
            return bad("proxy.lease_seconds", "must be at least 2");
        }
        if !(1..=300).contains(&self.proxy.verify_timeout_seconds) {
            return bad("proxy.verify_timeout_seconds", "must be between 1 and 300");
        }
        if self.proxy.keep_generations < 2 {
            return bad("proxy.keep_generations", "must be at least 2");
        }
        if !(1..=64).contains(&self.proxy.rollout_parallel) {
            return bad("proxy.rollout_parallel", "must be between 1 and 64");
        }
        if self.proxy.status_port < 1024 {
            return bad("proxy.status_port", "must be between 1024 and 65535");
        }
        if self.tls.renew_check_interval_seconds == 0 || self.tls.retry_base_seconds == 0 {
            return bad("tls.renew_check_interval_seconds", "tls intervals must be at least 1 second");
        }
        if self.pve.vmid_range.parse::<gantry_pve::model::VmidRange>().is_err() {
            return bad("pve.vmid_range", "must look like 10000-19999, within 100-999999999");
        }
        if self.pve.max_parallel == 0 || self.pve.per_node == 0 || self.pve.per_storage == 0 {
            return bad("pve.max_parallel", "pve concurrency limits must be at least 1");
        }
        if !(0.001..=10.0).contains(&self.pve.retry_scale) {
            return bad("pve.retry_scale", "must be between 0.001 and 10");
        }
        if self.monitoring.event_retention_days == 0 {
            return bad("monitoring.event_retention_days", "must be at least 1");
        }
        if self.monitoring.traffic_minute_window_hours == 0 || self.monitoring.traffic_minute_window_hours > 24 * 31 {
            return bad("monitoring.traffic_minute_window_hours", "must be between 1 and 744 (31 days)");
        }
        if self.monitoring.traffic_hour_retention_days == 0 {
            return bad("monitoring.traffic_hour_retention_days", "must be at least 1");
        }
        if self.monitoring.traffic_interval_seconds != 0 && self.monitoring.traffic_interval_seconds < 5 {
            return bad("monitoring.traffic_interval_seconds", "must be 0 (off) or at least 5");
        }
        if self.tasks.orphan_grace_seconds < 600 {
            return bad(
                "tasks.orphan_grace_seconds",
                "must be at least 600: an object younger than the slowest upload to the store could still be waiting for its row",
            );
        }
        if self.tasks.max_attachment_bytes < 1024 || self.tasks.max_attachment_bytes > 5 * 1024 * 1024 * 1024 {
            return bad("tasks.max_attachment_bytes", "must be between 1024 and 5368709120 (5 GiB)");
        }
        if !(0.5..=0.9).contains(&self.tls.renew_fraction) {
            return bad("tls.renew_fraction", "must be between 0.5 and 0.9");
        }
        Ok(())
    }

    /// The database URL, defaulting to SQLite in the data directory.
    pub fn database_url(&self) -> SecretString {
        match &self.database_url {
            Some(u) => u.clone(),
            None => SecretString::from(format!("sqlite://{}/gantry.db", self.data_dir.display())),
        }
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render configuration: {e}\n"))
    }
}

/// Turns a figment error into one line that names the key.
fn describe(e: &figment::Error) -> String {
    let mut parts = Vec::new();
    for err in e.clone() {
        let key = if err.path.is_empty() { "(top level)".to_string() } else { err.path.join(".") };
        let source = err.metadata.as_ref().map(|m| m.name.to_string()).unwrap_or_default();
        parts.push(
            format!("{key}: {} {}", err.kind, if source.is_empty() { String::new() } else { format!("(from {source})") })
                .trim()
                .to_string(),
        );
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_cover_nested_sections() {
        let k = known_keys();
        assert!(k.contains("listen"));
        assert!(k.contains("jobs.concurrency"));
        assert!(k.contains("master_key_file"));
        assert!(!k.contains("jobs"));
    }

    #[test]
    fn unknown_env_vars_are_reported() {
        let vars = vec![
            ("GANTRY_LISTEN".to_string(), String::new()),
            ("GANTRY_JOBS__CONCURRENCY".to_string(), String::new()),
            ("GANTRY_LISTN".to_string(), String::new()),
            ("GANTRY_TEST_MYSQL_URL".to_string(), String::new()),
            ("PATH".to_string(), String::new()),
        ];
        assert_eq!(unknown_env(vars.into_iter()), vec!["GANTRY_LISTN".to_string()]);
    }

    #[test]
    fn redacted_output_hides_secrets() {
        let cfg = Config {
            master_key: Some(SecretString::from("c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=")),
            database_url: Some(SecretString::from("postgres://u:hunter2@h/db")),
            ..Config::default()
        };
        let out = cfg.redacted_toml();
        assert!(!out.contains("hunter2"));
        assert!(!out.contains("c2VjcmV0"));
        assert!(out.contains("[redacted]"));
    }
}
