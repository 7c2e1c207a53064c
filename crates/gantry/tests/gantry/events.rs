//! The event log: entries written with each module's changes, filtered and
//! paged, hidden by role, followed live and pruned by retention; the health
//! summary; and, against the real binary, JSON logs that carry request and
//! job ids and a log level an admin changes at runtime.

use crate::backend_tests;
use crate::helpers::{ADMIN_PASSWORD, Backend, Session, TestApp, eventually, expect_problem};
use crate::jobs::read_events;
use gantry_core::eventlog::{EventLogFilter, Record, Severity};
use gantry_core::page::PageRequest;
use gantry_core::user::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader};
use std::time::Duration;

backend_tests!(event_log_records_filters_and_hides, retention_prunes_only_old_entries, summary_counts_every_module);

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A server on a loopback port nothing listens on: its check fails at once.
async fn dead_server(op: &Session, name: &str) -> i64 {
    let r = op
        .post(
            "/api/v1/servers",
            json!({"name": name, "address": "127.0.0.1", "port": closed_port(), "ssh_user": "root", "credentials": {"generate": true}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

async fn wait_job(s: &Session, id: i64) -> Value {
    eventually(30, || async {
        let j = s.json(&format!("/api/v1/jobs/{id}")).await;
        matches!(j["status"].as_str(), Some("succeeded" | "failed" | "cancelled")).then_some(j)
    })
    .await
}

fn kinds(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect()
}

async fn event_log_records_filters_and_hides(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let admin = t.admin().await;
    let op = t.user("opal", "operator").await;
    let viewer = t.user("vera", "viewer").await;
    let mut live = viewer.get("/api/v1/events?kinds=event.").await;
    assert_eq!(live.status(), StatusCode::OK);

    // A failed login is a warning only admins see.
    let mut stranger = t.client();
    assert_eq!(stranger.try_login("opal", "not-the-password-1").await.status(), StatusCode::UNAUTHORIZED);

    // A check of an unreachable server: the check, the status change and the job failure are recorded.
    let id = dead_server(&op, "Edge-Berlin").await;
    let r = op.post(&format!("/api/v1/servers/{id}/check"), json!({})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let job_id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    assert_eq!(wait_job(&op, job_id).await["status"], "failed");

    // Followed live: the viewer's stream carries the server's entries, never the login.
    let seen = read_events(&mut live, |_, v| v["payload"]["kind"] == "job.failed").await;
    let live_kinds: Vec<&str> = seen.iter().filter_map(|(_, v)| v["payload"]["kind"].as_str()).collect();
    assert!(live_kinds.contains(&"server.check_failed") && live_kinds.contains(&"server.down"), "{live_kinds:?}");
    assert!(!live_kinds.iter().any(|k| k.starts_with("auth.")), "logins are for admins: {live_kinds:?}");
    let entry = &seen.iter().find(|(_, v)| v["payload"]["kind"] == "server.check_failed").unwrap().1["payload"];
    assert_eq!(entry["severity"], "warning");
    assert_eq!(entry["entity_type"], "server");
    assert_eq!(entry["entity_id"], id.to_string());
    assert_eq!(entry["entity_name"], "edge-berlin");
    assert_eq!(entry["job_id"], job_id);

    // Filters: module, severity (at least), entity, job, text (case-insensitive), kind prefix.
    let all = admin.json("/api/v1/monitoring/events?limit=100").await;
    let k = kinds(&all);
    for want in ["auth.login_failed", "auth.login", "server.check_failed", "server.down", "job.failed"] {
        assert!(k.contains(&want.to_string()), "{want} in {k:?}");
    }
    let ids: Vec<i64> = all["items"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    let failed_login = all["items"].as_array().unwrap().iter().find(|e| e["kind"] == "auth.login_failed").unwrap();
    assert_eq!(failed_login["severity"], "warning");
    assert_eq!(failed_login["entity_name"], "opal");
    assert!(!failed_login.to_string().contains("not-the-password-1"), "no password in the log: {failed_login}");

    let v = viewer.json("/api/v1/monitoring/events?limit=100").await;
    assert!(!kinds(&v).iter().any(|k| k.starts_with("auth.")), "viewers never see logins: {:?}", kinds(&v));

    let errors = op.json("/api/v1/monitoring/events?severity=error").await;
    let ek = kinds(&errors);
    assert!(ek.contains(&"server.down".into()) && ek.contains(&"job.failed".into()), "{ek:?}");
    assert!(!ek.contains(&"server.check_failed".into()), "warnings are below error: {ek:?}");
    assert!(errors["items"].as_array().unwrap().iter().all(|e| e["severity"] == "error"), "only errors: {errors}");

    let mine = op.json(&format!("/api/v1/monitoring/events?entity_type=server&entity_id={id}")).await;
    let mut mk = kinds(&mine);
    mk.sort();
    assert_eq!(mk, vec!["server.check_failed", "server.down"], "{mine}");

    let by_job = op.json(&format!("/api/v1/monitoring/events?job_id={job_id}")).await;
    let mut jk = kinds(&by_job);
    jk.sort();
    assert_eq!(jk, vec!["job.failed", "server.check_failed"], "{by_job}");

    let text = op.json("/api/v1/monitoring/events?q=EDGE-berl").await;
    assert!(kinds(&text).contains(&"server.check_failed".into()), "{text}");
    assert_eq!(op.json("/api/v1/monitoring/events?q=50%25_off").await["items"], json!([]), "% and _ are literal");

    let servers_only = op.json("/api/v1/monitoring/events?module=servers&kind=server.").await;
    assert!(servers_only["items"].as_array().unwrap().iter().all(|e| e["module"] == "servers"), "{servers_only}");
    let job_module = op.json("/api/v1/monitoring/events?module=servers,jobs").await;
    assert!(kinds(&job_module).contains(&"job.failed".into()), "a failed servers.check job belongs to the servers module");

    // Time range and paging.
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let r = op.get(&format!("/api/v1/monitoring/events?since={}", urlencode(&future))).await;
    assert_eq!(r.json::<Value>().await.unwrap()["items"], json!([]));
    let first = admin.json("/api/v1/monitoring/events?limit=2").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let next = first["next"].as_str().unwrap();
    let second = admin.json(&format!("/api/v1/monitoring/events?limit=2&cursor={next}")).await;
    assert_eq!(second["items"][0]["id"].as_i64().unwrap(), ids[2], "the next page continues where the first ended");

    // Bad filters are named.
    let r = op.get("/api/v1/monitoring/events?severity=fatal&module=bogus&entity_id=3").await;
    let body = expect_problem(r, 422, "validation_failed").await;
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["module", "severity", "entity_id"], "{body}");
    let r = op.get("/api/v1/monitoring/events?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z").await;
    expect_problem(r, 422, "validation_failed").await;
    assert_eq!(t.client().get("/api/v1/monitoring/events").await.status(), StatusCode::UNAUTHORIZED);

    // The counter follows what the relay delivered.
    let metrics = t.client().get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("gantry_events_total{module=\"servers\",severity=\"warning\"}"), "events counted by module and severity");
    assert!(metrics.contains("# TYPE gantry_job_queue_oldest_age_seconds gauge"));

    // Without a reloadable subscriber (the test harness installs its own) the log level cannot change.
    let r = admin.request(reqwest::Method::PUT, "/api/v1/system/log-level").json(&json!({"level": "debug"})).send().await.unwrap();
    expect_problem(r, 409, "not_supported").await;
    let r = op.get("/api/v1/system/log-level").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "admins only");
    t.stop().await;
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

async fn retention_prunes_only_old_entries(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let events = t.app().platform.repos.events.clone();
    let old = events.record(Record::new(Severity::Info, "servers", "server.up", "old").details(json!({"token": "s3cr3t"}))).await.unwrap();
    assert_eq!(old.details["token"], "[redacted]", "secret-looking details are redacted before they are stored");
    // MySQL rounds timestamps to whole seconds, so the cut keeps a second's distance from both.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let cut = chrono::Utc::now() - chrono::Duration::seconds(1);
    let new = events.record(Record::new(Severity::Error, "proxy", "proxy.degraded", "new")).await.unwrap();
    assert_eq!(events.prune_records(cut).await.unwrap(), 1);
    let left = events
        .list_records(&EventLogFilter { visible_to: Role::Admin, ..Default::default() }, PageRequest::parse(None, None).unwrap())
        .await
        .unwrap();
    let ids: Vec<i64> = left.items.iter().filter(|e| e.kind != "auth.login").map(|e| e.id.0).collect();
    assert_eq!(ids, vec![new.id.0]);
    t.stop().await;
}

async fn summary_counts_every_module(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let op = t.user("opal", "operator").await;
    let id = dead_server(&op, "down-1").await;
    dead_server(&op, "never-checked").await;
    let r = op.post(&format!("/api/v1/servers/{id}/check"), json!({})).await;
    let job_id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    wait_job(&op, job_id).await;
    for title in ["one", "two"] {
        assert_eq!(op.post("/api/v1/tasks", json!({"title": title})).await.status(), StatusCode::CREATED);
    }
    assert_eq!(op.post("/api/v1/tasks", json!({"title": "late", "due_date": "2020-01-01"})).await.status(), StatusCode::CREATED);

    let viewer = t.user("vera", "viewer").await;
    let s = viewer.json("/api/v1/monitoring/summary").await;
    assert_eq!(s["servers"]["counts"], json!({"unreachable": 1, "unknown": 1}), "{s}");
    assert_eq!(s["tasks"]["counts"], json!({"open": 3, "overdue": 1}), "{s}");
    assert_eq!(s["jobs"]["counts"]["failed"], 1, "{s}");
    assert_eq!(s["proxies"]["counts"], json!({"not_installed": 2}), "every server has a proxy state: {s}");
    assert_eq!(s["certificates"]["counts"]["renewal_failing"], 0, "{s}");
    assert_eq!(s["stands"]["counts"], json!({}), "{s}");
    assert!(s["events"]["counts"]["error"].as_u64().unwrap() >= 2, "server.down and job.failed: {s}");
    for tile in ["servers", "proxies", "certificates", "jobs", "stands", "tasks", "events"] {
        assert!(s[tile]["error"].is_null(), "{tile}: {s}");
    }
    t.stop().await;
}

/// The real binary with JSON logs: request and job ids on log lines, and an
/// admin raising the level to debug at runtime (audited, in the event log).
#[tokio::test]
async fn json_logs_carry_ids_and_the_level_changes_at_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GANTRY_DATA_DIR", dir.path())
        .env("GANTRY_LISTEN", format!("127.0.0.1:{port}"))
        .env("GANTRY_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("GANTRY_LOG_FORMAT", "json")
        .env("GANTRY_LOG_LEVEL", "info")
        .env("GANTRY_EVENTS__POLL_MS", "50")
        .env("GANTRY_JOBS__POLL_MS", "50")
        .env("GANTRY_SERVERS__PROBE_INTERVAL_SECONDS", "0")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    eventually(30, || async { http.get(format!("{base}/readyz")).send().await.ok().filter(|r| r.status() == 200).map(|_| ()) }).await;
    let mut admin = Session {
        http: reqwest::Client::builder().cookie_store(true).timeout(Duration::from_secs(60)).build().unwrap(),
        base: base.clone(),
        csrf: None,
        bearer: None,
    };
    admin.login("admin", ADMIN_PASSWORD).await;

    let level = admin.json("/api/v1/system/log-level").await;
    assert_eq!(level, json!({"level": "info", "configured": "info"}));
    let r =
        admin.request(reqwest::Method::PUT, "/api/v1/system/log-level").json(&json!({"level": "debug,nonsense=[["})).send().await.unwrap();
    let body = expect_problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "level", "{body}");
    let r = admin.request(reqwest::Method::PUT, "/api/v1/system/log-level").json(&json!({"level": "debug"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["level"], "debug");

    // A request with a known id, and a job: their lines carry the ids.
    let r = admin.request(reqwest::Method::POST, "/api/v1/system/selfcheck").header("x-request-id", "req-log-test-1").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let job_id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    wait_job(&admin, job_id).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (mut with_request, mut with_job, mut debug_lines) = (false, false, 0);
    while std::time::Instant::now() < deadline && !(with_request && with_job && debug_lines > 0) {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else { continue };
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("every log line is JSON ({e}): {line}"));
        with_request |= v["span"]["request_id"] == "req-log-test-1";
        let logged = &v["span"]["job_id"];
        with_job |= logged.as_str() == Some(job_id.to_string().as_str()) || logged.as_i64() == Some(job_id);
        debug_lines += usize::from(v["level"] == "DEBUG");
    }
    assert!(with_request, "a line carries the request id");
    assert!(with_job, "a line carries the job id");
    assert!(debug_lines > 0, "debug lines appear after the change");

    let audit = admin.json("/api/v1/audit?action=system.log_level").await;
    assert_eq!(audit["items"][0]["summary"], json!({"from": "info", "to": "debug"}));
    let log = admin.json("/api/v1/monitoring/events?kind=system.log_level").await;
    assert_eq!(log["items"][0]["severity"], "info", "{log}");
    let _ = child.kill();
    let _ = child.wait();
}
