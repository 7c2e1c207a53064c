//! Request shapes and their validated forms.

use crate::model::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A response header to add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Header name (letters, digits, hyphens).
    pub name: String,
    /// Value, written double-quoted; no `"`, `\`, `$`, braces or control characters.
    pub value: String,
}

/// Per-domain options as sent; omitted fields take their defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionsInput {
    /// Proxy WebSocket upgrades.
    pub websocket: Option<bool>,
    /// Redirect HTTP to HTTPS (takes effect once the domain has a certificate).
    pub redirect_https: Option<bool>,
    /// Send Strict-Transport-Security (over HTTPS).
    pub hsts: Option<bool>,
    /// HSTS max-age in seconds (0–63072000, default 31536000).
    pub hsts_max_age: Option<u32>,
    /// Largest request body in MiB (0 = unlimited; default nginx's 1).
    pub max_body_size_mb: Option<u32>,
    /// Seconds to connect to the target (1–3600).
    pub proxy_connect_timeout: Option<u32>,
    /// Seconds between two reads from the target (1–3600).
    pub proxy_read_timeout: Option<u32>,
    /// Seconds between two writes to the target (1–3600).
    pub proxy_send_timeout: Option<u32>,
    /// Extra response headers.
    pub response_headers: Option<Vec<Header>>,
    /// Only these client networks may connect (CIDRs). Checked before `deny`.
    pub allow: Option<Vec<String>>,
    /// These client networks are refused (CIDRs).
    pub deny: Option<Vec<String>>,
    /// HTTPS: `none` (default), `certificate` (an uploaded one, `certificate_id`) or `acme` (issued and renewed by Gantry).
    pub tls: Option<TlsMode>,
    /// The uploaded certificate served with `tls: certificate`; it must cover the domain and its aliases.
    pub certificate_id: Option<i64>,
    /// Offer HTTP/2 over HTTPS.
    pub http2: Option<bool>,
    /// TLS protocols and ciphers: Mozilla's `intermediate` (default) or `modern` profile.
    pub tls_profile: Option<TlsProfile>,
}

/// How a domain gets its certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain HTTP only.
    #[default]
    None,
    /// An uploaded certificate.
    Certificate,
    /// A certificate Gantry issues with ACME and renews.
    Acme,
}

/// Mozilla's server-side TLS profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum TlsProfile {
    /// TLS 1.2 and 1.3 with forward-secret AEAD ciphers: works with every client of the last decade.
    #[default]
    Intermediate,
    /// TLS 1.3 only.
    Modern,
}

/// Validated per-domain options, as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DomainOptions {
    /// Proxy WebSocket upgrades.
    pub websocket: bool,
    /// Redirect HTTP to HTTPS once a certificate exists.
    pub redirect_https: bool,
    /// Strict-Transport-Security.
    pub hsts: bool,
    /// HSTS max-age, seconds.
    pub hsts_max_age: u32,
    /// Body size limit, MiB.
    pub max_body_size_mb: Option<u32>,
    /// Connect timeout, seconds.
    pub proxy_connect_timeout: Option<u32>,
    /// Read timeout, seconds.
    pub proxy_read_timeout: Option<u32>,
    /// Send timeout, seconds.
    pub proxy_send_timeout: Option<u32>,
    /// Extra response headers.
    pub response_headers: Vec<Header>,
    /// Allowed networks.
    pub allow: Vec<String>,
    /// Denied networks.
    pub deny: Vec<String>,
    /// HTTPS mode.
    #[serde(default)]
    pub tls: TlsMode,
    /// The uploaded certificate (only with `tls: certificate`).
    #[serde(default)]
    pub certificate_id: Option<i64>,
    /// HTTP/2 over HTTPS.
    #[serde(default)]
    pub http2: bool,
    /// TLS profile.
    #[serde(default)]
    pub tls_profile: TlsProfile,
}

/// A path route as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteInput {
    /// Path prefix starting with `/`.
    pub path: String,
    /// Target IP.
    pub target_ip: String,
    /// Target port (default 80).
    pub target_port: Option<u32>,
    /// Upstream scheme (default http).
    pub scheme: Option<Scheme>,
}

/// A validated route. Routes match by longest prefix first; the domain's own target serves the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Route {
    /// Path prefix.
    pub path: String,
    /// Target IP.
    pub target_ip: String,
    /// Target port.
    pub target_port: u16,
    /// Upstream scheme.
    pub scheme: Scheme,
}

/// A domain as sent (create, update, import).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DomainInput {
    /// The group (required on create; changing it moves the domain).
    pub group_id: Option<i64>,
    /// Domain name (Unicode or punycode; one leading `*.` allowed).
    pub name: Option<String>,
    /// Target IP (IPv4 or IPv6 literal).
    pub target_ip: Option<String>,
    /// Target port (default 80).
    pub target_port: Option<u32>,
    /// Upstream scheme (default http).
    pub scheme: Option<Scheme>,
    /// Extra names served the same way.
    pub aliases: Option<Vec<String>>,
    /// Whether the proxy serves it (default true).
    pub enabled: Option<bool>,
    /// Options.
    pub options: Option<OptionsInput>,
    /// Path routes.
    pub routes: Option<Vec<RouteInput>>,
}

/// A fully validated domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainSpec {
    /// Name.
    pub name: DomainName,
    /// Target.
    pub target: TargetAddr,
    /// Port.
    pub port: u16,
    /// Scheme.
    pub scheme: Scheme,
    /// Aliases.
    pub aliases: Vec<DomainName>,
    /// Enabled.
    pub enabled: bool,
    /// Options.
    pub options: DomainOptions,
    /// Routes.
    pub routes: Vec<Route>,
}

fn bounded(e: &mut Errors, field: &str, v: Option<u32>, lo: u32, hi: u32) -> Option<u32> {
    match v {
        Some(n) if n < lo || n > hi => {
            e.push(field, format!("must be between {lo} and {hi}"));
            None
        }
        other => other,
    }
}

/// Validates options.
pub fn options(input: &OptionsInput, e: &mut Errors) -> DomainOptions {
    let mut headers = Vec::new();
    let raw_headers = input.response_headers.clone().unwrap_or_default();
    if raw_headers.len() > 32 {
        e.push("options.response_headers", "at most 32 headers");
    }
    for (i, h) in raw_headers.iter().enumerate() {
        let n = e.check(format!("options.response_headers[{i}].name"), parse_header_name(&h.name));
        let v = e.check(format!("options.response_headers[{i}].value"), parse_header_value(&h.value));
        if let (Some(name), Some(value)) = (n, v) {
            headers.push(Header { name, value });
        }
    }
    let mut nets = |field: &str, list: &Option<Vec<String>>| -> Vec<String> {
        let list = list.clone().unwrap_or_default();
        if list.len() > 256 {
            e.push(format!("options.{field}"), "at most 256 networks");
        }
        list.iter()
            .enumerate()
            .filter_map(|(i, c)| e.check(format!("options.{field}[{i}]"), Cidr::parse(c)).map(|c| c.as_str().to_string()))
            .collect()
    };
    let allow = nets("allow", &input.allow);
    let deny = nets("deny", &input.deny);
    let tls = input.tls.unwrap_or_default();
    let certificate_id = match (tls, input.certificate_id) {
        (TlsMode::Certificate, None) => {
            e.push("options.certificate_id", "is required with tls: certificate (the uploaded certificate to serve)");
            None
        }
        (TlsMode::Certificate, Some(id)) => Some(id),
        // Another mode: a left-over id means nothing and is dropped.
        (_, _) => None,
    };
    DomainOptions {
        websocket: input.websocket.unwrap_or(false),
        redirect_https: input.redirect_https.unwrap_or(false),
        hsts: input.hsts.unwrap_or(false),
        hsts_max_age: bounded(e, "options.hsts_max_age", input.hsts_max_age, 0, 63_072_000).unwrap_or(31_536_000),
        max_body_size_mb: bounded(e, "options.max_body_size_mb", input.max_body_size_mb, 0, 10_240),
        proxy_connect_timeout: bounded(e, "options.proxy_connect_timeout", input.proxy_connect_timeout, 1, 3600),
        proxy_read_timeout: bounded(e, "options.proxy_read_timeout", input.proxy_read_timeout, 1, 3600),
        proxy_send_timeout: bounded(e, "options.proxy_send_timeout", input.proxy_send_timeout, 1, 3600),
        response_headers: headers,
        allow,
        deny,
        tls,
        certificate_id,
        http2: input.http2.unwrap_or(false),
        tls_profile: input.tls_profile.unwrap_or_default(),
    }
}

impl DomainOptions {
    /// The input that produces these options (to merge partial updates).
    pub fn to_input(&self) -> OptionsInput {
        OptionsInput {
            websocket: Some(self.websocket),
            redirect_https: Some(self.redirect_https),
            hsts: Some(self.hsts),
            hsts_max_age: Some(self.hsts_max_age),
            max_body_size_mb: self.max_body_size_mb,
            proxy_connect_timeout: self.proxy_connect_timeout,
            proxy_read_timeout: self.proxy_read_timeout,
            proxy_send_timeout: self.proxy_send_timeout,
            response_headers: Some(self.response_headers.clone()),
            allow: Some(self.allow.clone()),
            deny: Some(self.deny.clone()),
            tls: Some(self.tls),
            certificate_id: self.certificate_id,
            http2: Some(self.http2),
            tls_profile: Some(self.tls_profile),
        }
    }
}

/// Validates a complete domain input (all required fields present).
pub fn domain(input: &DomainInput) -> Result<DomainSpec, Vec<gantry_core::FieldError>> {
    let mut e = Errors::new();
    let name = match &input.name {
        Some(n) => e.check("name", DomainName::parse(n)),
        None => {
            e.push("name", "is required");
            None
        }
    };
    let target = match &input.target_ip {
        Some(t) => e.check("target_ip", TargetAddr::parse(t)),
        None => {
            e.push("target_ip", "is required: the IP address the proxy forwards to");
            None
        }
    };
    let port = e.check("target_port", parse_port(input.target_port.unwrap_or(80)));
    let raw_aliases = input.aliases.clone().unwrap_or_default();
    if raw_aliases.len() > 50 {
        e.push("aliases", "at most 50 aliases");
    }
    let mut aliases: Vec<DomainName> = Vec::new();
    for (i, a) in raw_aliases.iter().enumerate() {
        if let Some(a) = e.check(format!("aliases[{i}]"), DomainName::parse(a)) {
            if Some(&a) == name.as_ref() || aliases.contains(&a) {
                e.push(format!("aliases[{i}]"), format!("{a} is listed twice"));
            } else {
                aliases.push(a);
            }
        }
    }
    let options = options(&input.options.clone().unwrap_or_default(), &mut e);
    let raw_routes = input.routes.clone().unwrap_or_default();
    if raw_routes.len() > 64 {
        e.push("routes", "at most 64 routes");
    }
    let mut routes: Vec<Route> = Vec::new();
    for (i, r) in raw_routes.iter().enumerate() {
        let path = e.check(format!("routes[{i}].path"), PathPrefix::parse(&r.path));
        let ip = e.check(format!("routes[{i}].target_ip"), TargetAddr::parse(&r.target_ip));
        let port = e.check(format!("routes[{i}].target_port"), parse_port(r.target_port.unwrap_or(80)));
        if let (Some(path), Some(ip), Some(port)) = (path, ip, port) {
            if routes.iter().any(|x| x.path == path.as_str()) {
                e.push(format!("routes[{i}].path"), format!("{} is routed twice", path.as_str()));
            } else {
                routes.push(Route {
                    path: path.as_str().to_string(),
                    target_ip: ip.to_string(),
                    target_port: port,
                    scheme: r.scheme.unwrap_or_default(),
                });
            }
        }
    }
    // Longest prefix first: the documented precedence, and the order the renderer emits.
    routes.sort_by(|a, b| b.path.len().cmp(&a.path.len()).then_with(|| a.path.cmp(&b.path)));
    match (name, target, port, e.list.is_empty()) {
        (Some(name), Some(target), Some(port), true) => Ok(DomainSpec {
            name,
            target,
            port,
            scheme: input.scheme.unwrap_or_default(),
            aliases,
            enabled: input.enabled.unwrap_or(true),
            options,
            routes,
        }),
        _ => Err(e.list),
    }
}
