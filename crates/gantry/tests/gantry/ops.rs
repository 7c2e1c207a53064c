//! Operations: metrics pass promtool, OpenAPI lists every route, Swagger UI
//! works offline, migrations are idempotent and refuse a newer schema.

use crate::backend_tests;
use crate::helpers::{Backend, FreshDb, TestApp};
use gantry_store::sea_orm::ConnectionTrait;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Write as _;
use std::process::{Command, Stdio};

backend_tests!(
    metrics_pass_promtool,
    migrations_are_idempotent_and_refuse_newer_schemas,
    concurrent_migrate_processes_apply_each_step_once
);

/// Every route the platform serves, as `METHOD path`.
const ROUTES: &[&str] = &[
    "POST /api/v1/auth/login",
    "POST /api/v1/auth/logout",
    "GET /api/v1/auth/me",
    "GET /api/v1/auth/options",
    "GET /api/v1/monitoring/events",
    "GET /api/v1/monitoring/summary",
    "GET /api/v1/monitoring/traffic",
    "GET /api/v1/monitoring/traffic/servers",
    "POST /api/v1/monitoring/traffic/collect",
    "GET /api/v1/system/log-level",
    "PUT /api/v1/system/log-level",
    "POST /api/v1/auth/register",
    "GET /api/v1/tasks",
    "POST /api/v1/tasks",
    "GET /api/v1/tasks/labels",
    "GET /api/v1/tasks/assignees",
    "GET /api/v1/tasks/storage",
    "PUT /api/v1/tasks/storage",
    "GET /api/v1/tasks/{id}",
    "PATCH /api/v1/tasks/{id}",
    "DELETE /api/v1/tasks/{id}",
    "POST /api/v1/tasks/{id}/move",
    "GET /api/v1/tasks/{id}/attachments",
    "POST /api/v1/tasks/{id}/attachments",
    "GET /api/v1/tasks/{id}/attachments/{attachment_id}",
    "DELETE /api/v1/tasks/{id}/attachments/{attachment_id}",
    "POST /api/v1/auth/password",
    "GET /api/v1/users",
    "POST /api/v1/users",
    "GET /api/v1/users/{id}",
    "PATCH /api/v1/users/{id}",
    "GET /api/v1/tokens",
    "POST /api/v1/tokens",
    "DELETE /api/v1/tokens/{id}",
    "GET /api/v1/audit",
    "GET /api/v1/jobs",
    "GET /api/v1/jobs/{id}",
    "POST /api/v1/jobs/{id}/cancel",
    "GET /api/v1/events",
    "GET /api/v1/system/info",
    "POST /api/v1/system/selfcheck",
    "GET /api/v1/servers",
    "POST /api/v1/servers",
    "GET /api/v1/servers/{id}",
    "PATCH /api/v1/servers/{id}",
    "DELETE /api/v1/servers/{id}",
    "POST /api/v1/servers/{id}/check",
    "POST /api/v1/servers/{id}/host-key/accept",
    "GET /api/v1/domain-groups",
    "POST /api/v1/domain-groups",
    "GET /api/v1/domain-groups/{id}",
    "PATCH /api/v1/domain-groups/{id}",
    "DELETE /api/v1/domain-groups/{id}",
    "POST /api/v1/domain-groups/{id}/import",
    "GET /api/v1/domain-groups/{id}/export",
    "GET /api/v1/domains",
    "POST /api/v1/domains",
    "GET /api/v1/domains/{id}",
    "PATCH /api/v1/domains/{id}",
    "DELETE /api/v1/domains/{id}",
    "POST /api/v1/domains/bulk",
    "GET /api/v1/domains/{id}/proxy",
    "GET /api/v1/proxy/servers",
    "GET /api/v1/servers/{id}/proxy",
    "POST /api/v1/servers/{id}/proxy/install",
    "GET /api/v1/servers/{id}/proxy/plan",
    "POST /api/v1/servers/{id}/proxy/apply",
    "GET /api/v1/servers/{id}/proxy/generations",
    "GET /api/v1/servers/{id}/proxy/generations/{number}",
    "POST /api/v1/servers/{id}/proxy/generations/{number}/rollback",
    "POST /api/v1/servers/{id}/proxy/drift/check",
    "POST /api/v1/servers/{id}/proxy/uninstall",
    "GET /api/v1/proxy/rollouts",
    "POST /api/v1/proxy/rollouts",
    "GET /api/v1/proxy/rollouts/{id}",
    "GET /api/v1/certificates",
    "POST /api/v1/certificates",
    "GET /api/v1/certificates/{id}",
    "DELETE /api/v1/certificates/{id}",
    "GET /api/v1/certificates/acme-accounts",
    "POST /api/v1/certificates/acme-accounts",
    "GET /api/v1/domains/{id}/certificate",
    "POST /api/v1/domains/{id}/certificate/issue",
    "GET /livez",
    "GET /readyz",
    "GET /metrics",
    "GET /api/v1/pve/clusters",
    "POST /api/v1/pve/clusters",
    "GET /api/v1/pve/clusters/{id}",
    "PUT /api/v1/pve/clusters/{id}",
    "DELETE /api/v1/pve/clusters/{id}",
    "POST /api/v1/pve/clusters/{id}/test",
    "GET /api/v1/pve/clusters/{id}/templates",
    "GET /api/v1/pve/clusters/{id}/orphans",
    "POST /api/v1/pve/clusters/{id}/orphans/remove",
    "GET /api/v1/pve/blueprints",
    "POST /api/v1/pve/blueprints",
    "GET /api/v1/pve/blueprints/{id}",
    "PUT /api/v1/pve/blueprints/{id}",
    "DELETE /api/v1/pve/blueprints/{id}",
    "POST /api/v1/pve/blueprints/import",
    "GET /api/v1/pve/blueprints/{id}/export",
    "POST /api/v1/pve/stands/plan",
    "POST /api/v1/pve/stands/deploy",
    "GET /api/v1/pve/deployments",
    "GET /api/v1/pve/deployments/{id}",
    "POST /api/v1/pve/deployments/{id}/retry",
    "POST /api/v1/pve/deployments/{id}/cleanup",
    "POST /api/v1/pve/deployments/{id}/credentials",
];

fn promtool() -> Option<&'static str> {
    let found = Command::new("promtool").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success());
    if found {
        return Some("promtool");
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("promtool is not installed, but CI=true requires the metrics check (apt-get install prometheus)");
    }
    eprintln!("SKIPPED: promtool not installed; /metrics format not checked");
    None
}

async fn metrics_pass_promtool(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let admin = t.admin().await;
    // Exercise a few routes so the families have samples.
    admin.get("/api/v1/users").await;
    admin.get("/api/v1/nope").await;
    let job: Value = admin.post("/api/v1/system/selfcheck", json!({})).await.json().await.unwrap();
    crate::helpers::eventually(10, || async {
        let j = admin.json(&format!("/api/v1/jobs/{}", job["id"])).await;
        (j["status"] == "succeeded").then_some(())
    })
    .await;
    let r = t.client().get("/metrics").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    for needle in [
        "gantry_http_requests_total{method=\"GET\",route=\"/api/v1/users\",status=\"200\"}",
        "gantry_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}",
        "gantry_http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/v1/users\",le=\"+Inf\"}",
        "gantry_db_pool_connections{state=\"idle\"}",
        "gantry_db_pool_max_connections 8",
        "gantry_build_info{version=",
        "gantry_job_attempts_total{kind=\"system.selfcheck\",outcome=\"succeeded\"} 1",
        "process_resident_memory_bytes",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    assert!(!text.contains("/api/v1/nope"), "raw paths must not become labels");
    if let Some(tool) = promtool() {
        let mut child = Command::new(tool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && report.trim().is_empty(), "promtool check metrics:\n{report}");
    }
    t.stop().await;
}

#[tokio::test]
async fn openapi_lists_every_route_and_swagger_is_offline() {
    let t = TestApp::spawn(Backend::Sqlite).await;
    let s = t.client();
    let doc: Value = s.get("/api/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "OpenAPI 3.1");
    assert_eq!(doc["info"]["title"], "Gantry API");
    let mut listed = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                listed.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let expected: BTreeSet<String> = ROUTES.iter().map(|s| s.to_string()).collect();
    assert_eq!(listed, expected, "OpenAPI paths differ from the served routes");
    for scheme in ["session", "token", "csrf"] {
        assert!(doc["components"]["securitySchemes"].get(scheme).is_some(), "{scheme} security scheme");
    }
    assert!(doc["components"]["schemas"].get("Problem").is_some());

    // Every documented route is really served (anything but 404/405 proves a handler exists).
    let admin = t.admin().await;
    for route in ROUTES {
        let (method, path) = route.split_once(' ').unwrap();
        let path = path.replace("{id}", "1").replace("{number}", "1");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        if path == "/api/v1/events" || path == "/api/v1/auth/logout" {
            continue; // a stream that stays open; logging out would end the session used here
        }
        let r = admin.request(method.clone(), &path).json(&json!({})).send().await.unwrap();
        let code = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        assert!(
            code != 405 && !(code == 404 && body.contains("no such endpoint")),
            "{method} {path} is documented but not served ({code})"
        );
    }

    // Swagger UI and its assets come from the binary itself.
    let ui = s.get("/api/docs/").await;
    assert_eq!(ui.status(), StatusCode::OK);
    let html = ui.text().await.unwrap();
    assert!(html.contains("swagger-ui"));
    assert!(
        !html.contains("http://") && !html.contains("https://unpkg") && !html.contains("cdn"),
        "Swagger UI must not load remote assets"
    );
    for asset in ["/api/docs/swagger-ui.css", "/api/docs/swagger-ui-bundle.js", "/api/docs/swagger-initializer.js"] {
        assert_eq!(s.get(asset).await.status(), StatusCode::OK, "{asset}");
    }
    t.stop().await;
}

async fn migrations_are_idempotent_and_refuse_newer_schemas(backend: Backend) {
    let db = FreshDb::new(backend).await;
    let second = db.same_database();
    let t = TestApp::spawn_on(db, |_| {}).await;
    let platform = t.app().platform.clone();
    let known = gantry::app::all_migrations(&gantry::modules::all(&gantry::config::Config::default()));
    // A second run finds nothing to do.
    assert!(gantry_store::migrate::run(&platform.db, &known).await.unwrap().is_empty());
    let st = gantry_store::migrate::status(&platform.db, &known).await.unwrap();
    assert_eq!(st.pending.len(), 0);
    assert_eq!(st.applied.first().map(String::as_str), Some("platform_0001_initial"), "platform migrations come first");
    assert!(st.applied.iter().any(|m| m == "servers_0001_inventory"), "module migrations run too");
    // Pretend a newer Gantry migrated this database.
    platform
        .db
        .connection()
        .execute_unprepared(
            "INSERT INTO gantry_migrations (name, module, applied_at) VALUES ('platform_9999_future', 'platform', '2030-01-01 00:00:00')",
        )
        .await
        .unwrap();
    let err = gantry_store::migrate::run(&platform.db, &known).await.unwrap_err();
    assert!(err.to_string().contains("newer than this gantry binary"), "{err}");
    assert!(err.to_string().contains("platform_9999_future"));
    // And the application refuses to start on it.
    let db2 = second;
    let mut cfg = crate::helpers::config(&db2);
    cfg.admin_password = None;
    let started = gantry::app::App::start(cfg).await;
    let msg = format!("{:#}", started.err().expect("start refused"));
    assert!(msg.contains("newer than this gantry binary"), "{msg}");
    t.stop().await;
}

/// The pods of a rollout each run `gantry migrate` (the Kubernetes prod
/// overlay's init container) at the same moment. The migration lock lets one
/// process apply each step; the others wait, find nothing left, and succeed.
async fn concurrent_migrate_processes_apply_each_step_once(backend: Backend) {
    let db = FreshDb::new(backend).await;
    let known = gantry::app::all_migrations(&gantry::modules::all(&gantry::config::Config::default()));
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let children: Vec<_> = dirs
        .iter()
        .map(|dir| {
            Command::new(env!("CARGO_BIN_EXE_gantry"))
                .env_clear()
                .env("GANTRY_DATA_DIR", dir.path())
                .env("GANTRY_DATABASE_URL", &db.url)
                .env("GANTRY_MASTER_KEY", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=")
                .arg("migrate")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start gantry migrate")
        })
        .collect();
    let outputs: Vec<_> = children.into_iter().map(|c| c.wait_with_output().expect("gantry migrate")).collect();
    for o in &outputs {
        assert!(o.status.success(), "a concurrent gantry migrate failed: {}", String::from_utf8_lossy(&o.stderr));
    }
    let check = gantry_store::Db::connect(&db.url, &gantry_store::PoolSettings::default()).await.unwrap();
    let rows = check
        .connection()
        .query_all_raw(gantry_store::sea_orm::Statement::from_string(
            check.connection().get_database_backend(),
            "SELECT name FROM gantry_migrations",
        ))
        .await
        .unwrap();
    let applied: Vec<String> = rows.iter().map(|r| r.try_get::<String>("", "name").unwrap()).collect();
    let unique: BTreeSet<&String> = applied.iter().collect();
    assert_eq!(unique.len(), applied.len(), "a migration was recorded twice: {applied:?}");
    assert_eq!(applied.len(), known.len(), "every migration applied once: {applied:?}");
    let st = gantry_store::migrate::status(&check, &known).await.unwrap();
    assert!(st.pending.is_empty(), "pending after the race: {:?}", st.pending);
    db.drop_db().await;
}

#[tokio::test]
async fn panel_is_served_with_csp_and_spa_fallback() {
    let t = TestApp::spawn(Backend::Sqlite).await;
    let s = t.client();
    for path in ["/", "/users", "/servers/42/edit"] {
        let r = s.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
        assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(r.headers()["cache-control"], "no-cache", "the app shell is revalidated");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let html = r.text().await.unwrap();
        assert!(html.contains("<html"), "{path} serves the panel (or the not-built page)");
        if !gantry_api::ui::built() {
            assert!(html.contains("panel was not built") && html.contains("./scripts/run"));
        } else {
            assert!(!html.contains("<script>") && !html.contains("<style>"), "no inline scripts or styles");
        }
    }
    // API and operations paths are never swallowed by the fallback.
    crate::helpers::expect_problem(s.get("/api/v1/nothing-here").await, 404, "not_found").await;
    crate::helpers::expect_problem(s.post("/not-a-route", json!({})).await, 404, "not_found").await;
    if gantry_api::ui::built() {
        // Hashed assets are immutable; a missing one is a real 404.
        let html = s.get("/").await.text().await.unwrap();
        let asset = html.split("src=\"").nth(1).and_then(|r| r.split('"').next()).expect("a script asset").to_string();
        let r = s.get(&asset).await;
        assert_eq!(r.status(), StatusCode::OK, "{asset}");
        assert_eq!(r.headers()["cache-control"], "public, max-age=31536000, immutable");
        assert_eq!(s.get("/assets/missing-0000.js").await.status(), StatusCode::NOT_FOUND);
    }
    t.stop().await;
}

#[tokio::test]
async fn openapi_command_prints_the_served_document() {
    let t = TestApp::spawn(Backend::Sqlite).await;
    let served: Value = t.client().get("/api/openapi.json").await.json().await.unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gantry")).arg("openapi").env_clear().output().unwrap();
    assert!(out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed, served, "`gantry openapi` and /api/openapi.json must agree");
    t.stop().await;
}
