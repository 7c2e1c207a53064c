//! Test harness: fresh databases per backend, an in-process app on port 0,
//! and a small typed HTTP client.

use gantry::app::App;
use gantry::config::Config;
use gantry_api::module::Module;
use gantry_store::sea_orm::{ConnectionTrait, Database};
use reqwest::{Client, Method, Response, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The admin password every test app starts with.
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// A database engine the tests run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MySql,
    Postgres,
}

impl Backend {
    fn env(&self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => None,
            Backend::MySql => Some("GANTRY_TEST_MYSQL_URL"),
            Backend::Postgres => Some("GANTRY_TEST_POSTGRES_URL"),
        }
    }

    /// The server URL for this backend, or `None` to skip. Under `CI=true`
    /// a missing variable is a failure, never a silent skip.
    pub fn server_url(&self) -> Option<String> {
        let var = self.env()?;
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => Some(v),
            _ => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("{var} is not set, but CI=true requires every database backend to be tested");
                }
                eprintln!("SKIPPED: {var} is not set; {self:?} tests did not run");
                None
            }
        }
    }
}

/// Runs one test body once per backend, as separate test functions.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::helpers::Backend;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() { super::$name(Backend::Sqlite).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mysql() { if Backend::MySql.server_url().is_some() { super::$name(Backend::MySql).await } }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() { if Backend::Postgres.server_url().is_some() { super::$name(Backend::Postgres).await } }
            }
        )*
    };
}

fn unique_name() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let rand = gantry_core::tokens::random_token(6).to_ascii_lowercase().replace(['-', '_'], "x");
    format!("gantry_t_{secs}_{rand}")
}

fn replace_db(url: &str, db: &str) -> String {
    // scheme://auth@host:port/dbname?params
    let (base, query) = url.split_once('?').map(|(b, q)| (b, Some(q))).unwrap_or((url, None));
    let cut = base.rfind('/').unwrap_or(base.len());
    let mut out = format!("{}/{}", &base[..cut], db);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A fresh, empty database; the data directory is returned too (SQLite lives in it).
pub struct FreshDb {
    pub backend: Backend,
    pub url: String,
    pub dir: tempfile::TempDir,
    name: Option<(String, String)>,
}

impl FreshDb {
    pub async fn new(backend: Backend) -> FreshDb {
        let dir = tempfile::tempdir().expect("tempdir");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}/gantry.db", dir.path().display());
                FreshDb { backend, url, dir, name: None }
            }
            Backend::MySql | Backend::Postgres => {
                let server = backend.server_url().expect("backend configured");
                let conn =
                    Database::connect(server.clone()).await.unwrap_or_else(|e| panic!("cannot reach {backend:?} at the test URL: {e}"));
                drop_stale(&conn, backend).await;
                let name = unique_name();
                conn.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
                let _ = conn.close().await;
                FreshDb { backend, url: replace_db(&server, &name), dir, name: Some((server, name)) }
            }
        }
    }

    /// Another handle on the same database (a second replica), with its own data directory.
    pub fn same_database(&self) -> FreshDb {
        FreshDb { backend: self.backend, url: self.url.clone(), dir: tempfile::tempdir().expect("tempdir"), name: None }
    }

    /// Drops the database (best effort).
    pub async fn drop_db(&self) {
        if let Some((server, name)) = &self.name
            && let Ok(conn) = Database::connect(server.clone()).await
        {
            let sql = match self.backend {
                Backend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                _ => format!("DROP DATABASE IF EXISTS {name}"),
            };
            let _ = conn.execute_unprepared(&sql).await;
            let _ = conn.close().await;
        }
    }
}

/// Removes test databases older than an hour left by crashed runs.
async fn drop_stale(conn: &gantry_store::sea_orm::DatabaseConnection, backend: Backend) {
    let list = match backend {
        Backend::MySql => "SELECT schema_name AS n FROM information_schema.schemata WHERE schema_name LIKE 'gantry_t_%'",
        _ => "SELECT datname AS n FROM pg_database WHERE datname LIKE 'gantry_t_%'",
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    if let Ok(rows) = conn.query_all_raw(gantry_store::sea_orm::Statement::from_string(conn.get_database_backend(), list)).await {
        for r in rows {
            let Ok(n) = r.try_get::<String>("", "n") else {
                continue;
            };
            let ts: u64 = n.split('_').nth(2).and_then(|s| s.parse().ok()).unwrap_or(now);
            if now.saturating_sub(ts) > 3600 {
                let sql = match backend {
                    Backend::Postgres => format!("DROP DATABASE IF EXISTS {n} WITH (FORCE)"),
                    _ => format!("DROP DATABASE IF EXISTS {n}"),
                };
                let _ = conn.execute_unprepared(&sql).await;
            }
        }
    }
}

/// A test configuration over a database: port 0, fast polling, known admin password.
pub fn config(db: &FreshDb) -> Config {
    let mut cfg = Config {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: db.dir.path().to_path_buf(),
        database_url: Some(SecretString::from(db.url.clone())),
        admin_password: Some(SecretString::from(ADMIN_PASSWORD.to_string())),
        ..Config::default()
    };
    cfg.jobs.poll_ms = 50;
    cfg.events.poll_ms = 50;
    cfg.jobs.backoff_base_seconds = 0;
    cfg.shutdown_grace_seconds = 5;
    cfg.db.max_connections = 8;
    // No periodic probes unless a test asks: many tests store servers at documentation
    // addresses (192.0.2.0/24) that must never be contacted.
    cfg.servers.probe_interval_seconds = 0;
    cfg
}

/// Log lines written by every app in this test process, for secret-leak checks.
pub fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let make = move || CaptureWriter(writer.clone());
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug,sqlx=warn,sea_orm=warn,hyper=warn"))
            .with_writer(make)
            .try_init();
        buf
    })
    .clone()
}

struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CaptureWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything the captured log holds, as text.
pub fn log_text() -> String {
    let buf = captured_logs();
    let v = buf.lock().map(|v| v.clone()).unwrap_or_default();
    String::from_utf8_lossy(&v).into_owned()
}

/// A running app plus a client with a cookie jar.
pub struct TestApp {
    pub app: Option<App>,
    pub base: String,
    pub db: FreshDb,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        let db = FreshDb::new(backend).await;
        Self::spawn_on(db, |_| {}).await
    }

    pub async fn spawn_on(db: FreshDb, tweak: impl FnOnce(&mut Config)) -> TestApp {
        Self::spawn_with(db, tweak, gantry::modules::all).await
    }

    pub async fn spawn_with(db: FreshDb, tweak: impl FnOnce(&mut Config), modules: impl Fn(&Config) -> Vec<Box<dyn Module>>) -> TestApp {
        let _ = captured_logs();
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let mut cfg = config(&db);
        tweak(&mut cfg);
        let app = App::start_with(cfg, modules).await.expect("app starts");
        let base = format!("http://{}", app.addr);
        TestApp { app: Some(app), base, db }
    }

    pub fn app(&self) -> &App {
        self.app.as_ref().expect("app running")
    }

    /// A new client (its own cookie jar), not logged in.
    pub fn client(&self) -> Session {
        Session {
            // A hung handler fails the test with its location instead of hanging the suite.
            http: Client::builder().cookie_store(true).timeout(Duration::from_secs(60)).build().expect("client"),
            base: self.base.clone(),
            csrf: None,
            bearer: None,
        }
    }

    /// A client logged in as `admin`.
    pub async fn admin(&self) -> Session {
        let mut s = self.client();
        s.login("admin", ADMIN_PASSWORD).await;
        s
    }

    /// Creates a user with `role` and returns a logged-in client for it.
    pub async fn user(&self, name: &str, role: &str) -> Session {
        let admin = self.admin().await;
        let r = admin.post("/api/v1/users", json!({"username": name, "role": role, "password": "password-of-user"})).await;
        assert_eq!(r.status(), StatusCode::CREATED, "create {name}");
        let mut s = self.client();
        s.login(name, "password-of-user").await;
        s
    }

    pub async fn stop(mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await;
        }
        self.db.drop_db().await;
    }
}

/// An HTTP client session.
pub struct Session {
    pub http: Client,
    pub base: String,
    pub csrf: Option<String>,
    pub bearer: Option<String>,
}

impl Session {
    pub async fn try_login(&mut self, user: &str, password: &str) -> Response {
        self.http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .expect("send")
    }

    pub async fn login(&mut self, user: &str, password: &str) {
        let r = self.try_login(user, password).await;
        assert_eq!(r.status(), StatusCode::OK, "login as {user}");
        let body: Value = r.json().await.expect("json");
        self.csrf = body["csrf_token"].as_str().map(String::from);
    }

    pub fn with_token(&self, token: &str) -> Session {
        Session { http: Client::new(), base: self.base.clone(), csrf: None, bearer: Some(token.to_string()) }
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut rb = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(c) = &self.csrf {
            rb = rb.header("X-CSRF-Token", c);
        }
        if let Some(b) = &self.bearer {
            rb = rb.bearer_auth(b);
        }
        rb
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.expect("send")
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.request(Method::POST, path).json(&body).send().await.expect("send")
    }

    pub async fn patch(&self, path: &str, body: Value) -> Response {
        self.request(Method::PATCH, path).json(&body).send().await.expect("send")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path).send().await.expect("send")
    }

    pub async fn json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        r.json().await.expect("json")
    }
}

/// Asserts a problem+json response with the given status and code; returns the body.
pub async fn expect_problem(r: Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status().as_u16(), status, "status for expected {code}");
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert_eq!(ct, "application/problem+json", "content type for {code}");
    let body: Value = r.json().await.expect("problem body");
    assert_eq!(body["code"], code, "problem code in {body}");
    assert_eq!(body["status"], status);
    assert_eq!(body["type"], format!("urn:gantry:problem:{code}"));
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()), "detail present");
    assert!(body["request_id"].as_str().is_some(), "request id present");
    body
}

/// Polls `f` until it returns `Some`, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "condition not met within {secs} s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes a file (used by CLI tests).
pub fn write_file(path: &std::path::Path, content: &str) {
    let mut f = std::fs::File::create(path).expect("create");
    f.write_all(content.as_bytes()).expect("write");
}
