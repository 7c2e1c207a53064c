//! A Proxmox VE API client: TLS pinned to a fingerprint or a CA (never
//! unverified), API-token or ticket authentication with CSRF and renewal,
//! fail-over across endpoints, lenient parsing of Perl-typed JSON, typed
//! error kinds, and task tracking by UPID on the UPID's own node.

pub mod error;
pub mod lenient;
pub mod task;
mod trust;

pub use error::{ErrorKind, PveError, RetryPolicy};
pub use task::Upid;
pub use trust::Trust;

use crate::model::{Endpoint, PveUserId, TokenId};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// How Gantry proves who it is to Proxmox.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`; no CSRF needed.
    Token {
        /// `user@realm!tokenid`.
        id: TokenId,
        /// The token's secret.
        secret: SecretString,
    },
    /// A ticket from `POST /access/ticket`, renewed before it expires.
    Password {
        /// `user@realm`.
        user: PveUserId,
        /// The password (used for the first ticket and after a ticket is lost).
        password: SecretString,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Token { id, .. } => write!(f, "Token({id})"),
            Auth::Password { user, .. } => write!(f, "Password({user})"),
        }
    }
}

/// Everything needed to reach one cluster.
#[derive(Debug, Clone)]
pub struct Connection {
    /// API endpoints, tried in order when one is unreachable.
    pub endpoints: Vec<Endpoint>,
    /// Credentials.
    pub auth: Auth,
    /// How the server certificate is verified.
    pub trust: Trust,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Renew a ticket once it is this old (Proxmox tickets live 2 h; renew after 1 h like proxmoxer).
    pub ticket_renew_after: Duration,
}

struct Ticket {
    ticket: SecretString,
    csrf: SecretString,
    obtained: Instant,
}

struct Inner {
    http: reqwest::Client,
    conn: Connection,
    /// The endpoint that answered last; calls start there.
    current: AtomicUsize,
    ticket: tokio::sync::Mutex<Option<Ticket>>,
    /// Requests sent (for the benchmark's requests-per-VM figure).
    sent: AtomicU64,
    /// Failures by kind, for metrics.
    on_error: Option<Arc<dyn Fn(ErrorKind) + Send + Sync>>,
}

/// A cloneable handle; clones share the connection pool and the ticket.
#[derive(Clone)]
pub struct PveClient(Arc<Inner>);

impl std::fmt::Debug for PveClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PveClient").field("endpoints", &self.0.conn.endpoints).finish()
    }
}

/// HTTP methods Proxmox's API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Read.
    Get,
    /// Create / action.
    Post,
    /// Update.
    Put,
    /// Remove.
    Delete,
}

impl Method {
    fn as_str(&self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// Request parameters, in order.
pub type Params = Vec<(String, String)>;

/// Builds parameters: `params![("newid", 105), ("full", 0)]`.
#[macro_export]
macro_rules! params {
    ($(($k:expr, $v:expr)),* $(,)?) => { vec![$(($k.to_string(), $v.to_string())),*] };
}

impl PveClient {
    /// Builds a client (no request is sent yet).
    pub fn new(conn: Connection) -> Result<Self, PveError> {
        if conn.endpoints.is_empty() {
            return Err(PveError::transport("connect".into(), "no endpoint configured".into(), false));
        }
        let tls = conn.trust.client_config().map_err(|m| PveError::transport("connect".into(), m, true))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(conn.timeout)
            .connect_timeout(conn.timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| PveError::transport("connect".into(), e.to_string(), false))?;
        Ok(PveClient(Arc::new(Inner {
            http,
            conn,
            current: AtomicUsize::new(0),
            ticket: tokio::sync::Mutex::new(None),
            sent: AtomicU64::new(0),
            on_error: None,
        })))
    }

    /// Reports every failure's kind to `f` (metrics).
    pub fn with_error_hook(conn: Connection, f: Arc<dyn Fn(ErrorKind) + Send + Sync>) -> Result<Self, PveError> {
        let c = Self::new(conn)?;
        let inner = Arc::try_unwrap(c.0).map_err(|_| PveError::transport("connect".into(), "client shared too early".into(), false))?;
        Ok(PveClient(Arc::new(Inner { on_error: Some(f), ..inner })))
    }

    /// How many HTTP requests this client has sent.
    pub fn requests_sent(&self) -> u64 {
        self.0.sent.load(Ordering::Relaxed)
    }

    /// GET and decode `data`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, params: Params) -> Result<T, PveError> {
        let v = self.call(Method::Get, path, params).await?;
        decode(path, v)
    }

    /// Sends a request and returns `data`.
    pub async fn call(&self, method: Method, path: &str, params: Params) -> Result<Value, PveError> {
        let op = format!("{} {path}", method.as_str());
        let span = tracing::debug_span!("pve_call", method = method.as_str(), path = %path);
        let r = self.call_inner(method, path, &params, &op).instrument(span).await;
        if let (Err(e), Some(hook)) = (&r, &self.0.on_error) {
            hook(e.kind);
        }
        r
    }

    async fn call_inner(&self, method: Method, path: &str, params: &Params, op: &str) -> Result<Value, PveError> {
        let mut relogged = false;
        loop {
            match self.send_any_endpoint(method, path, params, op).await {
                Err(e) if e.kind == ErrorKind::Unauthenticated && !relogged && matches!(self.0.conn.auth, Auth::Password { .. }) => {
                    // The ticket expired or the cluster restarted: log in again once.
                    relogged = true;
                    *self.0.ticket.lock().await = None;
                }
                other => return other,
            }
        }
    }

    /// Tries each endpoint from the current one; moves on only when an
    /// endpoint cannot be reached at all (an answer, even 595, is final).
    async fn send_any_endpoint(&self, method: Method, path: &str, params: &Params, op: &str) -> Result<Value, PveError> {
        let n = self.0.conn.endpoints.len();
        let start = self.0.current.load(Ordering::Relaxed) % n;
        let mut last = None;
        for i in 0..n {
            let idx = (start + i) % n;
            match self.send(idx, method, path, params, op).await {
                Err(e) if e.status.is_none() && e.kind == ErrorKind::NodeUnreachable => {
                    tracing::warn!(endpoint = %self.0.conn.endpoints[idx], error = %e.message, "Proxmox endpoint unreachable, trying the next");
                    last = Some(e);
                }
                other => {
                    self.0.current.store(idx, Ordering::Relaxed);
                    return other;
                }
            }
        }
        Err(last.unwrap_or_else(|| PveError::transport(op.into(), "no endpoint".into(), false)))
    }

    async fn send(&self, idx: usize, method: Method, path: &str, params: &Params, op: &str) -> Result<Value, PveError> {
        let base = &self.0.conn.endpoints[idx];
        let auth = self.auth_headers(idx, method).await?;
        let url = format!("{}/api2/json{path}", base.as_str());
        let mut rb = match method {
            Method::Get => self.0.http.get(&url).query(params),
            Method::Delete => self.0.http.delete(&url).query(params),
            Method::Post => self.0.http.post(&url).form(params),
            Method::Put => self.0.http.put(&url).form(params),
        };
        for (k, v) in auth {
            rb = rb.header(k, v);
        }
        self.0.sent.fetch_add(1, Ordering::Relaxed);
        let resp = match rb.send().await {
            Ok(r) => r,
            // A write that may have reached Proxmox must not be sent again to another
            // endpoint (a clone would run twice): only connection failures and reads fail over.
            Err(e) if !e.is_connect() && method != Method::Get => {
                return Err(PveError {
                    kind: ErrorKind::Other,
                    status: None,
                    op: op.to_string(),
                    message: format!(
                        "sent, but no answer arrived ({}); the outcome is unknown, so it is not repeated",
                        transport_error(op, &e).message
                    ),
                    errors: BTreeMap::new(),
                });
            }
            Err(e) => return Err(transport_error(op, &e)),
        };
        read_envelope(op, resp).await
    }

    async fn auth_headers(&self, idx: usize, method: Method) -> Result<Vec<(&'static str, String)>, PveError> {
        match &self.0.conn.auth {
            Auth::Token { id, secret } => Ok(vec![("Authorization", format!("PVEAPIToken={id}={}", secret.expose_secret()))]),
            Auth::Password { user, password } => {
                let mut guard = self.0.ticket.lock().await;
                let fresh = guard.as_ref().is_some_and(|t| t.obtained.elapsed() < self.0.conn.ticket_renew_after);
                if !fresh {
                    // Renew with the current ticket while it is still valid, else log in with the password.
                    let secret = match guard.as_ref() {
                        Some(t) => t.ticket.clone(),
                        None => password.clone(),
                    };
                    let t = match self.login(idx, user, &secret).await {
                        Ok(t) => t,
                        Err(e) if guard.is_some() && e.kind == ErrorKind::Unauthenticated => self.login(idx, user, password).await?,
                        Err(e) => return Err(e),
                    };
                    *guard = Some(t);
                }
                let t = guard.as_ref().ok_or_else(|| PveError::transport("login".into(), "no ticket".into(), false))?;
                let mut h = vec![("Cookie", format!("PVEAuthCookie={}", urlencode(t.ticket.expose_secret())))];
                if method != Method::Get {
                    h.push(("CSRFPreventionToken", t.csrf.expose_secret().to_string()));
                }
                Ok(h)
            }
        }
    }

    async fn login(&self, idx: usize, user: &PveUserId, secret: &SecretString) -> Result<Ticket, PveError> {
        let op = "POST /access/ticket".to_string();
        let url = format!("{}/api2/json/access/ticket", self.0.conn.endpoints[idx].as_str());
        let form = [("username", user.to_string()), ("password", secret.expose_secret().to_string())];
        self.0.sent.fetch_add(1, Ordering::Relaxed);
        let resp = self.0.http.post(&url).form(&form).send().await.map_err(|e| transport_error(&op, &e))?;
        let v = read_envelope(&op, resp).await?;
        let ticket = v.get("ticket").and_then(Value::as_str);
        let csrf = v.get("CSRFPreventionToken").and_then(Value::as_str);
        match (ticket, csrf) {
            (Some(t), Some(c)) => {
                Ok(Ticket { ticket: SecretString::from(t.to_string()), csrf: SecretString::from(c.to_string()), obtained: Instant::now() })
            }
            _ if v.get("NeedTFA").is_some() => Err(PveError::from_response(
                op,
                401,
                "the account requires two-factor authentication; use an API token".into(),
                BTreeMap::new(),
            )),
            _ => Err(PveError::from_response(op, 401, "the ticket response lacks a ticket".into(), BTreeMap::new())),
        }
    }

    /// Runs `f` again while it fails with a retryable kind, with jittered backoff.
    /// `scale` shrinks the delays (tests against a fast simulator).
    pub async fn retrying<T, F, Fut>(what: &str, scale: f64, mut f: F) -> Result<T, PveError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, PveError>>,
    {
        let mut attempt = 0u32;
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let Some(p) = e.kind.retry() else { return Err(e) };
                    attempt += 1;
                    if attempt >= p.attempts {
                        return Err(e);
                    }
                    let d = p.delay(attempt, scale);
                    tracing::info!(what, kind = e.kind.as_str(), attempt, delay_ms = d.as_millis() as u64, error = %e.message, "retrying Proxmox call");
                    tokio::time::sleep(d).await;
                }
            }
        }
    }
}

fn transport_error(op: &str, e: &reqwest::Error) -> PveError {
    // Walk the source chain: rustls errors (fingerprint mismatch) sit below hyper's.
    let mut msg = e.to_string();
    let mut tls = false;
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        let t = s.to_string();
        if t.contains("certificate") || t.contains("fingerprint") || s.downcast_ref::<rustls::Error>().is_some() {
            tls = true;
        }
        msg = format!("{msg}: {t}");
        src = s.source();
    }
    PveError::transport(op.to_string(), msg, tls)
}

async fn read_envelope(op: &str, resp: reqwest::Response) -> Result<Value, PveError> {
    let status = resp.status().as_u16();
    let reason = resp.status().canonical_reason().unwrap_or("").to_string();
    let body = resp.bytes().await.map_err(|e| transport_error(op, &e))?;
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if (200..300).contains(&status) {
        return Ok(v.get("data").cloned().unwrap_or(Value::Null));
    }
    let mut message = v.get("message").and_then(Value::as_str).map(|s| s.trim().to_string()).unwrap_or_default();
    if message.is_empty() {
        let text = String::from_utf8_lossy(&body).trim().chars().take(300).collect::<String>();
        message = if text.is_empty() || text.starts_with('{') { format!("HTTP {status} {reason}") } else { text };
    }
    let mut errors = BTreeMap::new();
    if let Some(obj) = v.get("errors").and_then(Value::as_object) {
        for (k, e) in obj {
            errors.insert(k.clone(), e.as_str().map(|s| s.trim().to_string()).unwrap_or_else(|| e.to_string()));
        }
    }
    Err(PveError::from_response(op.to_string(), status, message, errors))
}

fn decode<T: DeserializeOwned>(path: &str, v: Value) -> Result<T, PveError> {
    serde_json::from_value(v).map_err(|e| PveError {
        kind: ErrorKind::Other,
        status: None,
        op: format!("GET {path}"),
        message: format!("unexpected response shape: {e}"),
        errors: BTreeMap::new(),
    })
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes one path segment (user ids contain `@`, UPIDs `:`).
pub fn seg(s: &str) -> String {
    urlencode(s)
}
