//! Proxy traffic statistics against the real test fleet: real nginx writing
//! its traffic log, real requests through it, collection over SSH, and exact
//! counts per domain and status class, also across log rotations, two
//! replicas and collection failures.

use crate::helpers::{Backend, FreshDb, Session, TestApp, eventually, expect_problem, log_text};
use crate::proxy::{add_server, domain, fleet, group, install};
use chrono::{DateTime, Utc};
use gantry_monitoring::traffic::TrafficService;
use gantry_testfleet::Fleet;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Answers 200 on `/`, 404 on `/missing` and 302 on `/moved`.
const ALPHA: &str = "alpha.traffic.test";
/// The same backend.
const BETA: &str = "beta.traffic.test";
/// Points at a closed port: nginx answers 502.
const GAMMA: &str = "gamma.traffic.test";

/// Host `i` as a backend on 8080 with known status codes per path.
fn start_backend(fleet: &Fleet, i: usize) {
    let conf = "server {\n  listen 8080;\n  default_type text/plain;\n  location = /missing { return 404 \"no\\n\"; }\n  \
                location = /moved { return 302 /; }\n  location / { return 200 \"ok\\n\"; }\n}\n";
    std::fs::write(fleet.host(i).unwrap().dir().join("etc-nginx/conf.d/backend.conf"), conf).unwrap();
    fleet.start_nginx(i).unwrap();
}

/// The log as host 0 sees it, `/etc/nginx/gantry/logs/access.log` (`.1` with `rotated`).
fn log_path(fleet: &Fleet, rotated: bool) -> std::path::PathBuf {
    let name = if rotated { "access.log.1" } else { "access.log" };
    fleet.host(0).unwrap().dir().join("etc-nginx/gantry/logs").join(name)
}

/// An installed proxy on host 0 serving ALPHA, BETA and GAMMA, and an app that collects only on demand.
struct Traffic {
    fleet: Fleet,
    t: TestApp,
    op: Session,
    server: i64,
    client: reqwest::Client,
    since: DateTime<Utc>,
}

fn quiet(c: &mut gantry::config::Config) {
    c.proxy.debounce_ms = 200;
    c.proxy.drift_interval_seconds = 0;
    c.monitoring.traffic_interval_seconds = 0;
}

impl Traffic {
    async fn new(backend: Backend, name: &str) -> Option<Traffic> {
        let fleet = fleet(2).await?;
        start_backend(&fleet, 1);
        let t = TestApp::spawn_on(FreshDb::new(backend).await, quiet).await;
        let op = t.user("ops", "operator").await;
        let server = add_server(&op, &fleet, 0, name).await;
        install(&op, server).await;
        let b1 = fleet.host(1).unwrap().addr();
        let g = group(&op, "traffic", server, json!({})).await;
        let ids = [domain(&op, g, ALPHA, b1, 8080).await, domain(&op, g, BETA, b1, 8080).await, domain(&op, g, GAMMA, b1, 9).await];
        // Live without sending a request: the proxy's own checks do not reach the traffic log.
        for id in ids {
            eventually(30, || async {
                let s = op.json(&format!("/api/v1/domains/{id}/proxy")).await;
                (s["served"] == true && s["up_to_date"] == true).then_some(())
            })
            .await;
        }
        let proxy = SocketAddr::from((fleet.host(0).unwrap().addr(), 80));
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .resolve(ALPHA, proxy)
            .resolve(BETA, proxy)
            .resolve(GAMMA, proxy)
            .build()
            .unwrap();
        let since = Utc::now() - chrono::Duration::minutes(2);
        Some(Traffic { fleet, t, op, server, client, since })
    }

    /// Sends `n` requests and checks each got `status`.
    async fn send(&self, name: &str, path: &str, n: usize, status: u16) {
        for _ in 0..n {
            let r = self.client.get(format!("http://{name}{path}")).send().await.unwrap();
            assert_eq!(r.status().as_u16(), status, "GET http://{name}{path}");
        }
    }

    /// The standard mix: ALPHA 5×200 3×404 2×302, BETA 4×200 1×404, GAMMA 3×502 (18 requests).
    async fn send_mix(&self) {
        self.send(ALPHA, "/", 5, 200).await;
        self.send(ALPHA, "/missing", 3, 404).await;
        self.send(ALPHA, "/moved", 2, 302).await;
        self.send(BETA, "/", 4, 200).await;
        self.send(BETA, "/missing", 1, 404).await;
        self.send(GAMMA, "/", 3, 502).await;
    }

    async fn collect_on(&self, op: &Session) -> Value {
        let r = op.post("/api/v1/monitoring/traffic/collect", json!({"server_id": self.server})).await;
        assert_eq!(r.status(), 200, "collect");
        let body: Value = r.json().await.unwrap();
        body["results"][0].clone()
    }

    /// Collects now; asserts it worked and returns the result.
    async fn collect(&self) -> Value {
        let r = self.collect_on(&self.op).await;
        assert_eq!(r["result"], "ok", "{r}");
        r
    }

    fn range(&self) -> String {
        let until = Utc::now() + chrono::Duration::minutes(2);
        format!(
            "from={}&to={}",
            self.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
        .replace('+', "%2B")
    }

    async fn view(&self, extra: &str) -> Value {
        self.op.json(&format!("/api/v1/monitoring/traffic?{}{extra}", self.range())).await
    }

    /// (requests, 2xx, 3xx, 4xx, 5xx) of a domain over the test's range.
    async fn classes(&self, name: &str, extra: &str) -> (i64, i64, i64, i64, i64) {
        let v = self.view(&format!("&domain={name}{extra}")).await;
        let t = &v["totals"];
        let n = |k: &str| t[k].as_i64().unwrap();
        assert_eq!(n("status_other"), 0);
        (n("requests"), n("status_2xx"), n("status_3xx"), n("status_4xx"), n("status_5xx"))
    }

    async fn all_classes(&self, extra: &str) -> BTreeMap<&'static str, (i64, i64, i64, i64, i64)> {
        let mut m = BTreeMap::new();
        for d in [ALPHA, BETA, GAMMA] {
            m.insert(d, self.classes(d, extra).await);
        }
        m
    }

    async fn server_state(&self) -> Value {
        let all = self.op.json("/api/v1/monitoring/traffic/servers").await;
        all.as_array().unwrap().iter().find(|s| s["server_id"] == self.server).cloned().unwrap_or_else(|| panic!("{all}"))
    }

    fn service(&self) -> std::sync::Arc<TrafficService> {
        self.t.app().platform.service::<TrafficService>().unwrap()
    }
}

/// The standard mix `k` times over.
fn mix(k: i64) -> BTreeMap<&'static str, (i64, i64, i64, i64, i64)> {
    BTreeMap::from([(ALPHA, (10 * k, 5 * k, 2 * k, 3 * k, 0)), (BETA, (5 * k, 4 * k, 0, k, 0)), (GAMMA, (3 * k, 0, 0, 0, 3 * k))])
}

crate::backend_tests!(counts_are_exact_per_domain_and_status_class);

/// Known requests per domain and status class are stored exactly once, also
/// when two replicas collect at the same time; folding into hours keeps them;
/// the API names bad parameters; the metrics report nginx's own counters.
async fn counts_are_exact_per_domain_and_status_class(backend: Backend) {
    let Some(s) = Traffic::new(backend, "traffic-edge").await else { return };
    let viewer = s.t.user("watcher", "viewer").await;
    s.send_mix().await;
    let r = s.collect().await;
    assert_eq!((r["lines"].as_u64(), r["skipped_lines"].as_u64()), (Some(18), Some(0)), "{r}");
    assert_eq!(s.all_classes("").await, mix(1));

    // The series: zero-filled minutes that add up to the totals, and the domains by requests.
    let v = s.view("").await;
    assert_eq!(v["step_seconds"], 60);
    let points = v["points"].as_array().unwrap();
    assert!(points.len() >= 4, "every minute of the range has a point: {}", points.len());
    assert_eq!(points.iter().map(|p| p["requests"].as_i64().unwrap()).sum::<i64>(), 18);
    assert!(points.iter().any(|p| p["requests"] == 0), "gaps are zero points");
    assert_eq!(v["totals"]["requests"], 18);
    let domains: Vec<(String, i64, i64)> = v["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["domain"].as_str().unwrap().to_string(), d["requests"].as_i64().unwrap(), d["status_5xx"].as_i64().unwrap()))
        .collect();
    assert_eq!(domains, vec![(ALPHA.into(), 10, 0), (BETA.into(), 5, 0), (GAMMA.into(), 3, 3)]);
    assert!(v["domains"].as_array().unwrap().iter().all(|d| d["server_id"] == s.server && d["bytes_sent"].as_i64().unwrap() > 0));
    let alpha = s.view(&format!("&domain={ALPHA}")).await;
    assert!(alpha["totals"]["upstream_avg_ms"].as_f64().unwrap() >= 0.0 && alpha["totals"]["upstream_max_ms"].as_i64().unwrap() >= 0);
    assert_eq!(s.view(&format!("&server_id={}", s.server)).await["totals"]["requests"], 18);
    assert_eq!(s.view("&server_id=999999").await["totals"]["requests"], 0);

    // Collecting again counts nothing twice.
    assert_eq!(s.collect().await["lines"], 0);
    assert_eq!(s.all_classes("").await, mix(1));

    // The server's state and nginx's own counters.
    let st = s.server_state().await;
    assert_eq!((st["name"].as_str(), st["installed"].as_bool(), st["failing"].as_bool()), (Some("traffic-edge"), Some(true), Some(false)));
    assert!(st["last_collected_at"].is_string() && st["last_error"].is_null(), "{st}");
    assert!(st["requests_total"].as_i64().unwrap() >= 18, "nginx counted the requests: {st}");
    assert!(st["active_connections"].as_i64().unwrap() >= 1, "the status request itself is active: {st}");
    assert!(st["requests_per_second"].as_f64().is_some(), "two reads give a rate: {st}");
    assert_eq!(st["skipped_lines"], 0);

    // Two replicas collecting at once still count each line once.
    let db2 = s.t.db.same_database();
    // The second replica reads the servers' keys with the same master key.
    std::fs::copy(s.t.db.dir.path().join("master.key"), db2.dir.path().join("master.key")).unwrap();
    let t2 = TestApp::spawn_on(db2, quiet).await;
    let admin2 = t2.admin().await;
    s.send(ALPHA, "/", 7, 200).await;
    let (a, b) = tokio::join!(s.collect_on(&s.op), s.collect_on(&admin2));
    assert!(a["result"] == "ok" || b["result"] == "ok", "{a} {b}");
    for r in [&a, &b] {
        assert!(matches!(r["result"].as_str(), Some("ok" | "busy" | "superseded")), "{r}");
    }
    assert_eq!(a["lines"].as_u64().unwrap() + b["lines"].as_u64().unwrap(), 7, "{a} {b}");
    let mut want = mix(1);
    want.insert(ALPHA, (17, 12, 2, 3, 0));
    assert_eq!(s.all_classes("").await, want);
    t2.stop().await;

    // Folding minutes into hours moves the counts, it does not copy or lose them.
    let svc = s.service();
    svc.fold_and_prune(Utc::now() + chrono::Duration::days(3)).await.unwrap();
    assert_eq!(s.all_classes("&step_seconds=3600").await, want);
    assert_eq!(s.view("&step_seconds=60").await["totals"]["requests"], 0, "no minute rows are left of the folded range");
    svc.fold_and_prune(Utc::now() + chrono::Duration::days(3)).await.unwrap();
    assert_eq!(s.all_classes("&step_seconds=3600").await, want, "folding again changes nothing");
    // New lines after a fold land in minutes again; an hour view adds both.
    s.send(BETA, "/", 2, 200).await;
    assert_eq!(s.collect().await["lines"], 2);
    assert_eq!(s.classes(BETA, "&step_seconds=3600").await, (7, 6, 0, 1, 0));
    // Hours past the retention are pruned.
    svc.fold_and_prune(Utc::now() + chrono::Duration::days(200)).await.unwrap();
    assert_eq!(s.view("&step_seconds=3600").await["totals"]["requests"], 0);

    // Metrics: nginx's counter, connections, collection results, last success.
    let metrics = s.t.client().get("/metrics").await.text().await.unwrap();
    let id = s.server;
    for want in [
        format!("gantry_proxy_requests_total{{server_id=\"{id}\"}}"),
        format!("gantry_proxy_connections{{server_id=\"{id}\",state=\"active\"}}"),
        format!("gantry_proxy_connections{{server_id=\"{id}\",state=\"waiting\"}}"),
        format!("gantry_traffic_last_success_timestamp_seconds{{server_id=\"{id}\"}}"),
        "# TYPE gantry_proxy_requests_total counter".to_string(),
        "gantry_traffic_collections_total{result=\"failed\"} 0".to_string(),
    ] {
        assert!(metrics.contains(&want), "missing {want} in:\n{metrics}");
    }
    assert!(!metrics.contains("gantry_traffic_collections_total{result=\"ok\"} 0"), "{metrics}");

    // Bad ranges are 422s naming the parameter.
    let p = expect_problem(
        s.op.get("/api/v1/monitoring/traffic?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z").await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "from");
    let p = expect_problem(s.op.get("/api/v1/monitoring/traffic?to=yesterday").await, 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "to");
    let p = expect_problem(
        s.op.get("/api/v1/monitoring/traffic?from=2026-01-01T00:00:00Z&to=2026-01-04T00:00:00Z&step_seconds=60").await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "step_seconds");
    let p = expect_problem(s.op.get("/api/v1/monitoring/traffic?domain=a%20b").await, 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "domain");

    // Viewers read; collecting is for operators. Unknown servers are 404, servers without a proxy 409.
    assert_eq!(viewer.get("/api/v1/monitoring/traffic").await.status(), 200);
    assert_eq!(viewer.get("/api/v1/monitoring/traffic/servers").await.status(), 200);
    expect_problem(viewer.post("/api/v1/monitoring/traffic/collect", json!({})).await, 403, "forbidden").await;
    expect_problem(s.op.post("/api/v1/monitoring/traffic/collect", json!({"server_id": 999999})).await, 404, "not_found").await;
    let bare = add_server(&s.op, &s.fleet, 1, "no-proxy").await;
    expect_problem(s.op.post("/api/v1/monitoring/traffic/collect", json!({"server_id": bare})).await, 409, "invalid_state").await;
    // Without a server id every installed proxy is collected.
    let all: Value = s.op.post("/api/v1/monitoring/traffic/collect", json!({})).await.json().await.unwrap();
    assert_eq!(all["results"].as_array().unwrap().len(), 1, "{all}");
    assert_eq!(all["results"][0]["server_id"], s.server);
    s.t.stop().await;
}

/// A log renamed by hand in the middle of traffic (nginx keeps writing to the
/// renamed file until it reopens), and a log Gantry rotates itself past its
/// size: every line counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_lose_and_repeat_nothing() {
    let Some(s) = Traffic::new(Backend::Sqlite, "traffic-rotate").await else { return };
    let logs = "/etc/nginx/gantry/logs";
    s.send_mix().await;
    s.collect().await;
    assert_eq!(s.all_classes("").await, mix(1));

    // By hand: rename, traffic goes on into the renamed file, a pass while nginx still writes to it.
    s.fleet.sh_ok(0, &format!("mv {logs}/access.log {logs}/access.log.1")).unwrap();
    s.send_mix().await;
    let r = s.collect().await;
    assert_eq!(r["lines"], 18, "the renamed file is read on: {r}");
    s.send(ALPHA, "/", 4, 200).await;
    // Reopen; more traffic into the new file.
    s.fleet.sh_ok(0, "nginx -s reopen").unwrap();
    eventually(10, || async { log_path(&s.fleet, false).exists().then_some(()) }).await;
    s.send_mix().await;
    s.collect().await;
    s.collect().await;
    let mut want = mix(3);
    want.insert(ALPHA, (34, 19, 6, 9, 0));
    assert_eq!(s.all_classes("").await, want, "nothing lost, nothing counted twice");

    // By Gantry: past the size limit the log is renamed to .1 and nginx reopens.
    s.service().set_rotate_bytes(1000);
    s.send_mix().await;
    let r = s.collect().await;
    assert_eq!((r["lines"].as_u64(), r["rotated"].as_bool()), (Some(18), Some(true)), "{r}");
    // Requests right after the rotation may still land in the renamed file.
    s.send_mix().await;
    s.collect().await;
    s.collect().await;
    let mut want = mix(5);
    want.insert(ALPHA, (54, 29, 10, 15, 0));
    assert_eq!(s.all_classes("").await, want);
    assert!(log_path(&s.fleet, true).exists() && log_path(&s.fleet, false).exists());
    // The old .1 is replaced only once it was read to its end: keep rotating under traffic.
    for _ in 0..3 {
        s.send_mix().await;
        s.collect().await;
    }
    s.collect().await;
    let mut want = mix(8);
    want.insert(ALPHA, (84, 44, 16, 24, 0));
    assert_eq!(s.all_classes("").await, want);

    // Truncation in place (copytruncate): the file is read again from its start. (No rotation
    // now, so the followed file holds the ten lines read before it shrinks to the two after.)
    s.service().set_rotate_bytes(u64::MAX);
    s.collect().await;
    s.send(ALPHA, "/", 10, 200).await;
    s.collect().await;
    s.fleet.sh_ok(0, &format!(": > {logs}/access.log")).unwrap();
    s.send(GAMMA, "/", 2, 502).await;
    s.collect().await;
    want.insert(ALPHA, (94, 54, 16, 24, 0));
    want.insert(GAMMA, (26, 0, 0, 0, 26));
    assert_eq!(s.all_classes("").await, want);

    // Lines that are not ours are skipped and counted, never fatal.
    std::fs::OpenOptions::new()
        .append(true)
        .open(log_path(&s.fleet, false))
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"garbage line\n1.0\tbad domain\t200\t1\t0.1\t-\n"))
        .unwrap();
    let r = s.collect().await;
    assert_eq!((r["lines"].as_u64(), r["skipped_lines"].as_u64()), (Some(0), Some(2)), "{r}");
    assert_eq!(s.server_state().await["skipped_lines"], 2);
    s.t.stop().await;
}

crate::backend_tests!(a_failing_collection_shows_and_recovers);

/// A server that cannot be reached shows as failing (one event, however many
/// passes fail) and recovers by itself, with the lines it could not read then.
async fn a_failing_collection_shows_and_recovers(backend: Backend) {
    let Some(s) = Traffic::new(backend, "traffic-unreachable").await else { return };
    s.send(ALPHA, "/", 3, 200).await;
    s.collect().await;
    s.send(ALPHA, "/", 2, 200).await;

    // sshd stops and the pooled connection is gone: new connections are refused.
    s.fleet.stop_sshd(0).unwrap();
    s.t.app().platform.service::<gantry_servers::ServersService>().unwrap().pool.forget(s.server).await;
    for n in 1..=2 {
        let r = s.collect_on(&s.op).await;
        assert_eq!(r["result"], "failed", "{r}");
        assert!(r["error"].as_str().unwrap().contains("cannot reach the server"), "{r}");
        let st = s.server_state().await;
        assert_eq!((st["failing"].as_bool(), st["consecutive_failures"].as_i64()), (Some(true), Some(n)), "{st}");
        assert!(st["last_error"].as_str().unwrap().contains("cannot reach the server") && st["failing_since"].is_string(), "{st}");
    }
    assert_eq!(s.classes(ALPHA, "").await.0, 3, "nothing was read while it failed");

    s.fleet.start_sshd(0).unwrap();
    let r = s.collect().await;
    assert_eq!(r["lines"], 2, "the lines of the outage are read after it: {r}");
    let st = s.server_state().await;
    assert_eq!((st["failing"].as_bool(), st["consecutive_failures"].as_i64()), (Some(false), Some(0)), "{st}");
    assert!(st["last_error"].is_null() && st["failing_since"].is_null(), "{st}");
    assert_eq!(s.classes(ALPHA, "").await, (5, 5, 0, 0, 0));

    // nginx down is a failure too (its status page does not answer), and the log is still read.
    s.fleet.stop_nginx(0).unwrap();
    let r = s.collect_on(&s.op).await;
    assert_eq!(r["result"], "failed", "{r}");
    assert!(r["error"].as_str().unwrap().contains("nginx status page"), "{r}");
    s.fleet.start_nginx(0).unwrap();
    s.collect().await;

    // One event-log entry when it started failing and one when it recovered, per outage; never a secret.
    let log = s.op.json(&format!("/api/v1/monitoring/events?module=monitoring&entity_type=server&entity_id={}&limit=100", s.server)).await;
    let items = log["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["traffic.collection_recovered", "traffic.collection_failed", "traffic.collection_recovered", "traffic.collection_failed"],
        "newest first: {log}"
    );
    let first = &items[3];
    assert_eq!((first["severity"].as_str(), first["entity_name"].as_str()), (Some("warning"), Some("traffic-unreachable")), "{first}");
    assert!(first["message"].as_str().unwrap().contains("cannot reach the server"), "{first}");
    assert_eq!(items[2]["severity"], "info");
    assert_eq!(items[2]["details"]["failed_passes"], 2, "{}", items[2]);
    let key_line = s.fleet.client_private_key().lines().nth(1).unwrap().to_string();
    assert!(!log.to_string().contains(&key_line) && !log_text().contains(&key_line));
    s.t.stop().await;
}
