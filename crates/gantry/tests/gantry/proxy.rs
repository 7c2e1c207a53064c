//! Reverse-proxy deployment against the real test fleet: real sshd, real
//! nginx, real traffic through the proxy to backends on other fleet hosts.

use crate::helpers::{Backend, Session, TestApp, eventually, expect_problem};
use gantry_testfleet::{Fleet, require_fleet};
use serde_json::{Value, json};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

pub(crate) async fn fleet(n: usize) -> Option<Fleet> {
    tokio::task::spawn_blocking(move || require_fleet(n)).await.unwrap()
}

/// Makes host `i` a small HTTP backend: `port` answers with `label` and the forwarding headers it received.
pub(crate) fn start_backend(fleet: &Fleet, i: usize, ports: &[(u16, &str)]) {
    let mut conf = String::new();
    for (port, label) in ports {
        conf.push_str(&format!(
            "server {{\n  listen {port};\n  location / {{\n    default_type text/plain;\n    \
             return 200 \"backend={label} host=$host xff=$http_x_forwarded_for xfp=$http_x_forwarded_proto xri=$http_x_real_ip uri=$request_uri\\n\";\n  }}\n}}\n"
        ));
    }
    let path = fleet.host(i).unwrap().dir().join("etc-nginx/conf.d/backend.conf");
    std::fs::write(path, conf).unwrap();
    fleet.start_nginx(i).unwrap();
}

/// A client whose requests for any name go to `addr:80` (like `curl --resolve name:80:addr`).
pub(crate) fn through(addr: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .dns_resolver(std::sync::Arc::new(Pinned(addr)))
        .build()
        .unwrap()
}

struct Pinned(Ipv4Addr);

impl reqwest::dns::Resolve for Pinned {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let addr = SocketAddr::from((self.0, 0));
        Box::pin(async move { Ok(Box::new(std::iter::once(addr)) as reqwest::dns::Addrs) })
    }
}

/// `GET http://name/path` through the proxy at `addr`: (status, body), or the error text.
pub(crate) async fn get(client: &reqwest::Client, name: &str, path: &str) -> Result<(u16, String), String> {
    let r = client.get(format!("http://{name}{path}")).send().await.map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    Ok((status, r.text().await.map_err(|e| e.to_string())?))
}

pub(crate) async fn wait_job(op: &Session, job: &Value) -> Value {
    let id = job["id"].as_i64().unwrap_or_else(|| panic!("not a job: {job}"));
    eventually(90, || async {
        let j = op.json(&format!("/api/v1/jobs/{id}")).await;
        matches!(j["status"].as_str(), Some("succeeded" | "failed" | "cancelled")).then_some(j)
    })
    .await
}

pub(crate) async fn post_job(op: &Session, path: &str, body: Value) -> Value {
    let r = op.post(path, body).await;
    assert_eq!(r.status(), 202, "POST {path}");
    let job: Value = r.json().await.unwrap();
    wait_job(op, &job).await
}

pub(crate) async fn add_server(op: &Session, fleet: &Fleet, i: usize, name: &str) -> i64 {
    let body = json!({"name": name, "address": fleet.host(i).unwrap().addr().to_string(), "ssh_user": "root",
        "credentials": {"private_key": fleet.client_private_key()}, "parameters": {"connect_timeout_seconds": 2}});
    let r = op.post("/api/v1/servers", body).await;
    assert_eq!(r.status(), 201, "create server {name}");
    r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

pub(crate) async fn install(op: &Session, server: i64) -> Value {
    let job = post_job(op, &format!("/api/v1/servers/{server}/proxy/install"), json!({})).await;
    assert_eq!(job["status"], "succeeded", "install: {job}");
    job
}

pub(crate) async fn group(op: &Session, name: &str, server: i64, extra: Value) -> i64 {
    let mut body = json!({"name": name, "server_id": server});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let r = op.post("/api/v1/domain-groups", body).await;
    assert_eq!(r.status(), 201, "create group {name}");
    r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

pub(crate) async fn domain(op: &Session, group: i64, name: &str, target: Ipv4Addr, port: u16) -> i64 {
    let r =
        op.post("/api/v1/domains", json!({"group_id": group, "name": name, "target_ip": target.to_string(), "target_port": port})).await;
    assert_eq!(r.status(), 201, "create domain {name}");
    r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

pub(crate) async fn state(op: &Session, server: i64) -> Value {
    op.json(&format!("/api/v1/servers/{server}/proxy")).await
}

/// Waits until `name` answers through the proxy with a body containing `want`.
pub(crate) async fn until_served(client: &reqwest::Client, name: &str, want: &str, secs: u64) -> String {
    eventually(secs, || async {
        match get(client, name, "/").await {
            Ok((200, body)) if body.contains(want) => Some(body),
            _ => None,
        }
    })
    .await
}

/// The number of times nginx's master on host `i` reloaded (it logs each SIGHUP).
pub(crate) fn reloads(fleet: &Fleet, i: usize) -> usize {
    let log = std::fs::read_to_string(fleet.host(i).unwrap().dir().join("var-log/nginx/error.log")).unwrap_or_default();
    log.lines().filter(|l| l.contains("signal 1 (SIGHUP) received")).count()
}

crate::backend_tests!(install_apply_and_traffic_flows_to_backends);

/// The whole path on each database: install, domains going live by themselves, real traffic with forwarding headers.
async fn install_apply_and_traffic_flows_to_backends(backend: Backend) {
    let Some(fleet) = fleet(3).await else { return };
    start_backend(&fleet, 1, &[(8080, "b1"), (8081, "b1-alt")]);
    start_backend(&fleet, 2, &[(8080, "b2")]);
    let t = TestApp::spawn_on(crate::helpers::FreshDb::new(backend).await, |c| {
        c.proxy.debounce_ms = 200;
        c.proxy.drift_interval_seconds = 0;
    })
    .await;
    let op = t.user("ops", "operator").await;
    let proxy = fleet.host(0).unwrap().addr();
    let (b1, b2) = (fleet.host(1).unwrap().addr(), fleet.host(2).unwrap().addr());
    let sid = add_server(&op, &fleet, 0, "edge").await;

    // Before the install: the plan needs an installed proxy.
    expect_problem(op.get(&format!("/api/v1/servers/{sid}/proxy/plan")).await, 409, "invalid_state").await;
    assert_eq!(state(&op, sid).await["status"], "not_installed");

    let job = install(&op, sid).await;
    let info = &job["result"]["install"];
    assert_eq!(info["systemd"], false, "fleet hosts have no systemd: {info}");
    assert!(info["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("boot")), "{info}");
    assert!(fleet.nginx_running(0).unwrap(), "install starts nginx");
    let dir = fleet.host(0).unwrap().dir().join("etc-nginx");
    let include = std::fs::read_to_string(dir.join("conf.d/gantry.conf")).unwrap();
    assert!(include.contains("server_tokens off;") && include.contains("include /etc/nginx/gantry/live/*.conf;"), "{include}");
    // worker_shutdown_timeout is main-level: it goes into nginx.conf's main include directory.
    let main = std::fs::read_to_string(dir.join("modules-enabled/gantry-main.conf")).unwrap();
    assert!(main.contains("worker_shutdown_timeout 30s;"), "{main}");
    assert_eq!(info["main_include_dir"], "/etc/nginx/modules-enabled");
    assert!(std::fs::read_link(dir.join("gantry/live")).unwrap().ends_with("generations/1"), "install applies generation 1");
    let st = state(&op, sid).await;
    assert_eq!(st["status"], "in_sync", "{st}");
    assert_eq!(st["live"]["number"], 1);
    // The operator's own files are untouched.
    assert!(dir.join("sites-enabled/default").exists());
    // Installing again is idempotent: no new generation.
    install(&op, sid).await;
    assert_eq!(state(&op, sid).await["live"]["number"], 1);

    // A group with two domains goes live by itself (no apply call).
    let g = group(&op, "web", sid, json!({})).await;
    domain(&op, g, "shop.example.test", b1, 8080).await;
    domain(&op, g, "blog.example.test", b2, 8080).await;
    let client = through(proxy);
    let body = until_served(&client, "shop.example.test", "backend=b1", 20).await;
    let shop = op.json("/api/v1/domains?q=shop").await["items"][0]["id"].as_i64().unwrap();
    assert!(body.contains("host=shop.example.test"), "{body}");
    assert!(body.contains(&format!("xff={}", fleet.control_addr())), "the backend sees the client in X-Forwarded-For: {body}");
    assert!(body.contains("xfp=http"), "{body}");
    assert!(body.contains(&format!("xri={}", fleet.control_addr())), "{body}");
    let body = until_served(&client, "blog.example.test", "backend=b2", 20).await;
    assert!(body.contains("uri=/"), "{body}");
    // Unknown names fall to the operator's default site, not to a Gantry domain.
    let (_, other) = get(&client, "unknown.example.test", "/").await.unwrap();
    assert!(!other.contains("backend="), "{other}");
    // The route marker answers local checks only.
    let (status, body) = get(&client, "shop.example.test", "/.well-known/gantry/route").await.unwrap();
    assert_eq!(status, 404, "{body}");

    let st = eventually(20, || async {
        let st = state(&op, sid).await;
        (st["status"] == "in_sync").then_some(st)
    })
    .await;
    assert_eq!(st["server_name"], "edge");
    let live = op.json(&format!("/api/v1/domains/{shop}/proxy")).await;
    assert_eq!((live["served"].as_bool(), live["up_to_date"].as_bool()), (Some(true), Some(true)), "{live}");
    assert_eq!(live["live_number"], st["live"]["number"]);
    let gens = op.json(&format!("/api/v1/servers/{sid}/proxy/generations")).await;
    for g in gens["items"].as_array().unwrap() {
        assert!(matches!(g["status"].as_str(), Some("live" | "superseded")), "no apply failed on the way: {g}");
    }
    let latest = &gens["items"][0];
    assert_eq!(latest["status"], "live");
    assert_eq!(latest["trigger"], "auto");
    assert_eq!(latest["actor"], "system:proxy");
    let plan = op.json(&format!("/api/v1/servers/{sid}/proxy/plan")).await;
    assert_eq!(plan["reload_needed"], false, "{plan}");
    assert_eq!(plan["diff"], "");
    let n = latest["number"].as_i64().unwrap();
    let detail = op.json(&format!("/api/v1/servers/{sid}/proxy/generations/{n}")).await;
    assert!(detail["files"]["00-gantry.conf"].as_str().unwrap().contains(latest["hash"].as_str().unwrap()));
    assert!(detail["diff"].as_str().unwrap().contains("+    server_name shop.example.test;") || n > 2, "{}", detail["diff"]);
    t.stop().await;
}

/// An app on SQLite with fast dynamic reconciliation and no periodic drift checks.
pub(crate) async fn quick_app() -> TestApp {
    TestApp::spawn_on(crate::helpers::FreshDb::new(Backend::Sqlite).await, |c| {
        c.proxy.debounce_ms = 200;
        c.proxy.drift_interval_seconds = 0;
    })
    .await
}

/// A fleet with a proxy host (0) and backends, an app with fast reconciliation, and an installed server.
pub(crate) struct Stand {
    pub fleet: Fleet,
    pub t: TestApp,
    pub op: Session,
    pub server: i64,
    pub client: reqwest::Client,
}

impl Stand {
    /// `hosts` hosts: host 0 is the proxy, host 1 a backend on 8080 ("b1") and 8081 ("b2").
    pub(crate) async fn new(hosts: usize, tweak: impl FnOnce(&mut gantry::config::Config)) -> Option<Stand> {
        let fleet = fleet(hosts).await?;
        start_backend(&fleet, 1, &[(8080, "b1"), (8081, "b2")]);
        // nginx logs each reload (SIGHUP) at notice level; the tests count them.
        let conf = fleet.host(0).unwrap().dir().join("etc-nginx/nginx.conf");
        let text = std::fs::read_to_string(&conf)
            .unwrap()
            .replace("error_log /var/log/nginx/error.log;", "error_log /var/log/nginx/error.log notice;");
        std::fs::write(&conf, text).unwrap();
        let t = TestApp::spawn_on(crate::helpers::FreshDb::new(Backend::Sqlite).await, |c| {
            c.proxy.debounce_ms = 300;
            c.proxy.drift_interval_seconds = 0;
            tweak(c);
        })
        .await;
        let op = t.user("ops", "operator").await;
        let server = add_server(&op, &fleet, 0, "edge").await;
        install(&op, server).await;
        let client = through(fleet.host(0).unwrap().addr());
        Some(Stand { fleet, t, op, server, client })
    }

    pub(crate) fn backend(&self) -> Ipv4Addr {
        self.fleet.host(1).unwrap().addr()
    }

    pub(crate) fn conf_dir(&self) -> std::path::PathBuf {
        self.fleet.host(0).unwrap().dir().join("etc-nginx")
    }

    pub(crate) async fn generations(&self) -> Vec<Value> {
        self.op.json(&format!("/api/v1/servers/{}/proxy/generations?limit=200", self.server)).await["items"].as_array().unwrap().clone()
    }

    pub(crate) async fn apply(&self, body: Value) -> Value {
        post_job(&self.op, &format!("/api/v1/servers/{}/proxy/apply", self.server), body).await
    }

    pub(crate) async fn state(&self) -> Value {
        state(&self.op, self.server).await
    }

    /// The live generation's files as they are on the server.
    pub(crate) fn live_files(&self) -> std::collections::BTreeMap<String, String> {
        let live = self.conf_dir().join("gantry/live");
        std::fs::read_dir(&live)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name().to_string_lossy().into_owned(), std::fs::read_to_string(e.path()).unwrap())
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_go_live_by_themselves_and_bursts_coalesce_into_one_reload() {
    // A debounce well above one PATCH's time on a loaded CI machine, so the burst stays one burst.
    let Some(s) = Stand::new(2, |c| c.proxy.debounce_ms = 1000).await else { return };
    let g = group(&s.op, "web", s.server, json!({})).await;
    let d = domain(&s.op, g, "app.example.test", s.backend(), 8080).await;
    until_served(&s.client, "app.example.test", "backend=b1", 20).await;
    // Settle: wait until the proxy is idle, then count.
    eventually(20, || async { (s.state().await["status"] == "in_sync").then_some(()) }).await;
    let (reloads_before, gens_before) = (reloads(&s.fleet, 0), s.generations().await.len());

    // Change the target: the traffic moves with no apply call.
    let started = Instant::now();
    let r = s.op.patch(&format!("/api/v1/domains/{d}"), json!({"target_port": 8081})).await;
    assert_eq!(r.status(), 200);
    until_served(&s.client, "app.example.test", "backend=b2", 10).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "change-to-live took {took:?}");
    eventually(20, || async { (s.state().await["status"] == "in_sync").then_some(()) }).await;
    assert_eq!(reloads(&s.fleet, 0), reloads_before + 1, "one edit, one reload");
    assert_eq!(s.generations().await.len(), gens_before + 1);

    // Ten rapid edits: one reload, one generation, and the last edit wins.
    let (reloads_before, gens_before) = (reloads(&s.fleet, 0), s.generations().await.len());
    for i in 0..10 {
        let port = if i % 2 == 0 { 8080 } else { 8081 };
        let body = json!({"target_port": port, "options": {"proxy_read_timeout": 30 + i}});
        assert_eq!(s.op.patch(&format!("/api/v1/domains/{d}"), body).await.status(), 200);
    }
    // Wait for the last edit to be live (the traffic already went to b2 before the burst).
    eventually(20, || async { s.live_files()["group-1.conf"].contains("proxy_read_timeout 39s;").then_some(()) }).await;
    eventually(20, || async { (s.state().await["status"] == "in_sync").then_some(()) }).await;
    until_served(&s.client, "app.example.test", "backend=b2", 10).await;
    // Give a stray second apply the time to show up before counting.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(reloads(&s.fleet, 0), reloads_before + 1, "ten edits in one burst cause exactly one reload");
    let gens = s.generations().await;
    assert_eq!(gens.len(), gens_before + 1, "and one generation");
    let live = s.live_files();
    assert!(live["group-1.conf"].contains("proxy_read_timeout 39s;"), "the last edit is live");
    assert_eq!(gens[0]["trigger"], "auto");
    s.t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_nginx_rejects_fails_with_its_message_and_the_old_generation_keeps_serving() {
    let Some(s) = Stand::new(2, |_| {}).await else { return };
    let g = group(&s.op, "web", s.server, json!({})).await;
    let d = domain(&s.op, g, "app.example.test", s.backend(), 8080).await;
    until_served(&s.client, "app.example.test", "backend=b1", 20).await;
    eventually(20, || async { (s.state().await["status"] == "in_sync").then_some(()) }).await;
    let live_before = s.live_files();
    let link_before = std::fs::read_link(s.conf_dir().join("gantry/live")).unwrap();
    let reloads_before = reloads(&s.fleet, 0);

    // Break the server's own configuration, as an operator might by hand.
    let conf = s.conf_dir().join("nginx.conf");
    let good = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("{good}\nthis_is_not_a_directive on;\n")).unwrap();
    let r = s.op.patch(&format!("/api/v1/domains/{d}"), json!({"target_port": 8081})).await;
    assert_eq!(r.status(), 200);
    let st = eventually(20, || async {
        let st = s.state().await;
        (st["status"] == "degraded").then_some(st)
    })
    .await;
    let gens = s.generations().await;
    let failed = &gens[0];
    assert_eq!(failed["status"], "failed", "{failed}");
    let n = failed["number"].as_i64().unwrap();
    let detail = s.op.json(&format!("/api/v1/servers/{}/proxy/generations/{n}", s.server)).await;
    let out = detail["nginx_output"].as_str().unwrap();
    assert!(out.contains("unknown directive \"this_is_not_a_directive\""), "nginx's own message is kept: {out}");
    assert!(st["status_message"].as_str().unwrap().contains("keeps serving"), "{st}");
    // Nothing half-applied: same pointer, same files, no reload, no staged leftovers, old traffic.
    assert_eq!(std::fs::read_link(s.conf_dir().join("gantry/live")).unwrap(), link_before);
    assert_eq!(s.live_files(), live_before);
    assert_eq!(reloads(&s.fleet, 0), reloads_before, "a rejected generation never reloads nginx");
    assert_eq!(std::fs::read_dir(s.conf_dir().join("gantry/staging")).unwrap().count(), 0);
    let (_, body) = get(&s.client, "app.example.test", "/").await.unwrap();
    assert!(body.contains("backend=b1"), "{body}");
    // The reconciler does not hammer the server with the same broken change.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(s.generations().await.len(), gens.len());

    // Fixed by the operator: applying goes through.
    std::fs::write(&conf, good).unwrap();
    let job = s.apply(json!({"reason": "nginx.conf fixed"})).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    until_served(&s.client, "app.example.test", "backend=b2", 10).await;
    assert_eq!(s.state().await["status"], "in_sync");
    assert_eq!(s.generations().await[0]["reason"], "nginx.conf fixed");
    s.t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_the_exact_bytes_and_traffic() {
    let Some(s) = Stand::new(2, |c| c.proxy.reconcile_interval_seconds = 1).await else { return };
    let g = group(&s.op, "web", s.server, json!({})).await;
    let d = domain(&s.op, g, "app.example.test", s.backend(), 8080).await;
    until_served(&s.client, "app.example.test", "backend=b1", 20).await;
    eventually(20, || async { (s.state().await["status"] == "in_sync").then_some(()) }).await;
    let old = s.state().await["live"].clone();
    let old_files = s.live_files();
    assert_eq!(s.op.patch(&format!("/api/v1/domains/{d}"), json!({"target_port": 8081})).await.status(), 200);
    until_served(&s.client, "app.example.test", "backend=b2", 10).await;
    eventually(20, || async { (s.state().await["status"] == "in_sync").then_some(()) }).await;

    // Only generations that served can be rolled back to.
    let r = s.op.post(&format!("/api/v1/servers/{}/proxy/generations/999/rollback", s.server), json!({})).await;
    expect_problem(r, 404, "not_found").await;
    let n = old["number"].as_i64().unwrap();
    let job =
        post_job(&s.op, &format!("/api/v1/servers/{}/proxy/generations/{n}/rollback", s.server), json!({"reason": "bad deploy"})).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    until_served(&s.client, "app.example.test", "backend=b1", 10).await;
    assert_eq!(s.live_files(), old_files, "the rollback restores generation {n}'s exact bytes");
    let latest = &s.generations().await[0];
    assert_eq!(latest["trigger"], "rollback");
    assert_eq!(latest["rollback_of"], old["id"]);
    assert_eq!(latest["hash"], old["hash"]);
    assert_eq!(latest["reason"], "bad deploy");
    assert_eq!(latest["actor"], "ops");
    // The desired state still says 8081, so the server now waits with a pending change...
    let plan = s.op.json(&format!("/api/v1/servers/{}/proxy/plan", s.server)).await;
    assert_eq!(plan["reload_needed"], true);
    assert_eq!(plan["domains"]["changed"][0]["name"], "app.example.test");
    assert!(plan["diff"].as_str().unwrap().contains("+        proxy_pass http://"), "{}", plan["diff"]);
    // ...and the rollback is audited.
    let audit = s.t.admin().await.json("/api/v1/audit?action=proxy.rollback").await;
    assert_eq!(audit["items"][0]["actor_name"], "ops", "{audit}");
    let st = s.state().await;
    assert_eq!(st["status"], "pending");
    assert!(st["status_message"].as_str().unwrap().contains("rolled back"), "{st}");
    // The rollback stays: the periodic reconcile does not undo it...
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, body) = get(&s.client, "app.example.test", "/").await.unwrap();
    assert!(body.contains("backend=b1"), "{body}");
    assert_eq!(s.generations().await[0]["trigger"], "rollback");
    // ...until the domains change again, which goes live as usual.
    assert_eq!(s.op.patch(&format!("/api/v1/domains/{d}"), json!({"options": {"proxy_read_timeout": 42}})).await.status(), 200);
    until_served(&s.client, "app.example.test", "backend=b2", 10).await;
    assert!(s.live_files()[&format!("group-{g}.conf")].contains("proxy_read_timeout 42s;"));
    s.t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_edits_show_as_drift_with_a_diff_and_reapply_repairs_them() {
    let Some(s) = Stand::new(2, |_| {}).await else { return };
    let g = group(&s.op, "web", s.server, json!({})).await;
    domain(&s.op, g, "app.example.test", s.backend(), 8080).await;
    until_served(&s.client, "app.example.test", "backend=b1", 20).await;
    eventually(20, || async { (s.state().await["status"] == "in_sync").then_some(()) }).await;
    let drift_path = format!("/api/v1/servers/{}/proxy/drift/check", s.server);
    let clean: Value = s.op.post(&drift_path, json!({})).await.json().await.unwrap();
    assert_eq!(clean["files"], json!([]), "{clean}");

    // Someone edits a managed file by hand and adds one of their own.
    let file = s.conf_dir().join(format!("gantry/live/group-{g}.conf"));
    let expected = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, expected.replace("proxy_pass http://", "proxy_pass http://127.0.0.1:9;# was ")).unwrap();
    std::fs::write(s.conf_dir().join("gantry/live/extra.conf"), "# mine\n").unwrap();
    let report: Value = s.op.post(&drift_path, json!({})).await.json().await.unwrap();
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{report}");
    let changed = files.iter().find(|f| f["kind"] == "changed").unwrap();
    assert!(changed["path"].as_str().unwrap().ends_with(&format!("group-{g}.conf")));
    assert!(changed["diff"].as_str().unwrap().contains("+        proxy_pass http://127.0.0.1:9;# was "), "{changed}");
    assert!(files.iter().any(|f| f["kind"] == "extra" && f["path"].as_str().unwrap().ends_with("extra.conf")));
    let st = s.state().await;
    assert_eq!(st["status"], "drifted");
    assert_eq!(st["drift"]["files"].as_array().unwrap().len(), 2);
    let mut stream = s.op.get("/api/v1/events?kinds=proxy.&after=0").await;
    let seen = crate::jobs::read_events(&mut stream, |k, _| k == "proxy.drift_detected").await;
    let (_, ev) = seen.last().unwrap();
    assert_eq!(ev["payload"]["server_id"], s.server, "{ev}");
    assert_eq!(ev["payload"]["paths"].as_array().unwrap().len(), 2, "{ev}");
    drop(stream);

    // Re-apply repairs it.
    let job = s.apply(json!({"force": true, "reason": "repair"})).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), expected);
    assert!(!s.conf_dir().join("gantry/live/extra.conf").exists());
    let st = s.state().await;
    assert_eq!(st["status"], "in_sync", "{st}");
    assert!(st["drift"].is_null());

    // With automatic repair on the group, the drift check repairs by itself.
    let r = s.op.patch(&format!("/api/v1/domain-groups/{g}"), json!({"auto_repair": true})).await;
    assert_eq!(r.status(), 200);
    std::fs::remove_file(&file).unwrap();
    let report: Value = s.op.post(&drift_path, json!({})).await.json().await.unwrap();
    assert_eq!(report["files"][0]["kind"], "missing", "{report}");
    eventually(20, || async { (file.exists() && s.state().await["status"] == "in_sync").then_some(()) }).await;
    assert_eq!(std::fs::read_to_string(&file).unwrap(), expected);
    assert_eq!(s.generations().await[0]["trigger"], "repair");
    s.t.stop().await;
}

/// Sends requests through the proxy (a new connection each, like separate clients) until stopped; returns (ok, failures).
fn load(
    addr: Ipv4Addr,
    name: &'static str,
    want: &'static str,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<(u64, Vec<String>)> {
    tokio::spawn(async move {
        let client = through(addr);
        let (mut ok, mut failures) = (0u64, Vec::new());
        let deadline = Instant::now() + Duration::from_secs(300);
        while !stop.load(std::sync::atomic::Ordering::SeqCst) && Instant::now() < deadline {
            match get(&client, name, "/").await {
                Ok((200, body)) if body.contains(want) => ok += 1,
                other => failures.push(format!("{other:?}")),
            }
        }
        (ok, failures)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_applies_under_load_drop_no_request() {
    let Some(s) = Stand::new(2, |_| {}).await else { return };
    let g = group(&s.op, "web", s.server, json!({})).await;
    domain(&s.op, g, "load.example.test", s.backend(), 8080).await;
    until_served(&s.client, "load.example.test", "backend=b1", 20).await;
    eventually(20, || async { (s.state().await["status"] == "in_sync").then_some(()) }).await;
    let (reloads_before, number_before) = (reloads(&s.fleet, 0), s.generations().await[0]["number"].as_i64().unwrap());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let loader = load(s.fleet.host(0).unwrap().addr(), "load.example.test", "backend=b1", stop.clone());
    for i in 0..50 {
        let job = s.apply(json!({"force": true, "reason": format!("reload {i} under load")})).await;
        assert_eq!(job["status"], "succeeded", "apply {i}: {job}");
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (ok, failures) = loader.await.unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed during 50 reloads: {:?}",
        failures.len(),
        ok + failures.len() as u64,
        &failures[..failures.len().min(5)]
    );
    assert!(ok > 200, "the load generator ran ({ok} requests)");
    assert_eq!(reloads(&s.fleet, 0), reloads_before + 50, "every apply reloaded nginx");
    let gens = s.generations().await;
    assert_eq!(gens[0]["number"].as_i64().unwrap(), number_before + 50);
    assert_eq!(gens.len(), 50, "older generations are pruned beyond proxy.keep_generations");
    s.t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_approval_holds_changes_as_a_pending_plan() {
    let Some(s) = Stand::new(2, |_| {}).await else { return };
    let auto = group(&s.op, "auto", s.server, json!({})).await;
    let held = group(&s.op, "held", s.server, json!({"manual_approval": true})).await;
    domain(&s.op, auto, "auto.example.test", s.backend(), 8080).await;
    let d = domain(&s.op, held, "held.example.test", s.backend(), 8080).await;
    until_served(&s.client, "auto.example.test", "backend=b1", 20).await;
    let st = eventually(20, || async {
        let st = s.state().await;
        (st["status"] == "pending").then_some(st)
    })
    .await;
    assert!(st["status_message"].as_str().unwrap().contains("approval"), "{st}");
    let (_, body) = get(&s.client, "held.example.test", "/").await.unwrap();
    assert!(!body.contains("backend="), "a manual-approval group does not go live by itself: {body}");
    let plan = s.op.json(&format!("/api/v1/servers/{}/proxy/plan", s.server)).await;
    assert_eq!(plan["awaiting_approval"], json!(["held"]), "{plan}");
    assert_eq!(plan["domains"]["added"][0]["name"], "held.example.test");
    assert_eq!(plan["reload_needed"], true);
    let live = s.op.json(&format!("/api/v1/domains/{d}/proxy")).await;
    assert_eq!((live["served"].as_bool(), live["up_to_date"].as_bool()), (Some(false), Some(false)), "{live}");
    // The operator approves by applying the plan.
    let job = s.apply(json!({"reason": "approved"})).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    until_served(&s.client, "held.example.test", "backend=b1", 10).await;
    assert_eq!(s.state().await["status"], "in_sync");
    let live = s.op.json(&format!("/api/v1/domains/{d}/proxy")).await;
    assert_eq!(live["up_to_date"], true, "{live}");
    // A later edit in the held group waits again; the live version stays.
    assert_eq!(s.op.patch(&format!("/api/v1/domains/{d}"), json!({"target_port": 8081})).await.status(), 200);
    eventually(20, || async { (s.state().await["status"] == "pending").then_some(()) }).await;
    let (_, body) = get(&s.client, "held.example.test", "/").await.unwrap();
    assert!(body.contains("backend=b1"), "{body}");
    assert_eq!(s.op.json(&format!("/api/v1/domains/{d}/proxy")).await["up_to_date"], false);
    s.t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uninstall_removes_gantrys_files_and_install_brings_them_back() {
    let Some(s) = Stand::new(2, |_| {}).await else { return };
    let g = group(&s.op, "web", s.server, json!({})).await;
    domain(&s.op, g, "app.example.test", s.backend(), 8080).await;
    until_served(&s.client, "app.example.test", "backend=b1", 20).await;
    eventually(20, || async { (s.state().await["status"] == "in_sync").then_some(()) }).await;
    let job = post_job(&s.op, &format!("/api/v1/servers/{}/proxy/uninstall", s.server), json!({})).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(!s.conf_dir().join("conf.d/gantry.conf").exists());
    assert!(!s.conf_dir().join("gantry").exists());
    assert!(s.conf_dir().join("nginx.conf").exists() && s.conf_dir().join("sites-enabled/default").exists(), "the operator's files stay");
    assert!(s.fleet.nginx_running(0).unwrap(), "nginx keeps running without Gantry's part");
    // Old workers may take one more connection while they get the master's shutdown signal.
    eventually(5, || async { get(&s.client, "app.example.test", "/").await.ok().filter(|(_, b)| !b.contains("backend=")) }).await;
    assert_eq!(s.state().await["status"], "not_installed");
    // Edits while uninstalled do nothing on the server; applying is refused clearly.
    let r = s.op.post(&format!("/api/v1/servers/{}/proxy/apply", s.server), json!({})).await;
    let p = expect_problem(r, 409, "invalid_state").await;
    assert!(p["detail"].as_str().unwrap().contains("not installed"), "{p}");
    install(&s.op, s.server).await;
    until_served(&s.client, "app.example.test", "backend=b1", 20).await;
    s.t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_marked_for_auto_install_get_the_proxy_once_reachable() {
    let Some(fleet) = fleet(1).await else { return };
    let t = TestApp::spawn_on(crate::helpers::FreshDb::new(Backend::Sqlite).await, |c| c.proxy.drift_interval_seconds = 0).await;
    let op = t.user("ops", "operator").await;
    let body = json!({"name": "auto", "address": fleet.host(0).unwrap().addr().to_string(), "ssh_user": "root",
        "credentials": {"private_key": fleet.client_private_key()}, "parameters": {"proxy_auto_install": true}});
    let r = op.post("/api/v1/servers", body).await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    assert_eq!(state(&op, id).await["status"], "not_installed");
    let check = post_job(&op, &format!("/api/v1/servers/{id}/check"), json!({})).await;
    assert_eq!(check["status"], "succeeded");
    let st = eventually(60, || async {
        let st = state(&op, id).await;
        (st["status"] == "in_sync").then_some(st)
    })
    .await;
    assert_eq!(st["live"]["trigger"], "install", "{st}");
    assert!(fleet.nginx_running(0).unwrap());
    t.stop().await;
}

/// The live generation number a fleet host's pointer names.
fn live_number(fleet: &Fleet, i: usize) -> i64 {
    let link = std::fs::read_link(fleet.host(i).unwrap().dir().join("etc-nginx/gantry/live")).unwrap();
    link.to_string_lossy().rsplit('/').next().unwrap().parse().unwrap()
}

async fn rollout(op: &Session, body: Value) -> Value {
    let r = op.post("/api/v1/proxy/rollouts", body).await;
    assert_eq!(r.status(), 202);
    let ro: Value = r.json().await.unwrap();
    let id = ro["id"].as_i64().unwrap();
    eventually(120, || async {
        let ro = op.json(&format!("/api/v1/proxy/rollouts/{id}")).await;
        (ro["status"] != "running").then_some(ro)
    })
    .await
}

fn statuses(ro: &Value) -> Vec<String> {
    ro["targets"].as_array().unwrap().iter().map(|t| t["status"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_over_ten_hosts_goes_canary_first_and_stops_at_a_broken_host() {
    let Some(fleet) = fleet(11).await else { return };
    start_backend(&fleet, 10, &[(8080, "old"), (8081, "new")]);
    let backend = fleet.host(10).unwrap().addr();
    // Nothing goes live by itself here: only the rollouts apply.
    let t = TestApp::spawn_on(crate::helpers::FreshDb::new(Backend::Sqlite).await, |c| {
        c.proxy.auto_apply = false;
        c.proxy.reconcile_interval_seconds = 1;
        c.proxy.drift_interval_seconds = 0;
    })
    .await;
    let op = t.user("ops", "operator").await;
    let mut servers = Vec::new();
    let mut domains = Vec::new();
    for i in 0..10 {
        servers.push(add_server(&op, &fleet, i, &format!("edge{i}")).await);
    }
    let mut jobs: Vec<Value> = Vec::new();
    for s in &servers {
        let r = op.post(&format!("/api/v1/servers/{s}/proxy/install"), json!({})).await;
        assert_eq!(r.status(), 202);
        jobs.push(r.json::<Value>().await.unwrap());
    }
    for j in &jobs {
        assert_eq!(wait_job(&op, j).await["status"], "succeeded");
    }
    for (i, s) in servers.iter().enumerate() {
        let g = group(&op, &format!("site{i}"), *s, json!({})).await;
        domains.push(domain(&op, g, &format!("site{i}.example.test"), backend, 8080).await);
    }
    // A healthy rollout of the new domains: everyone succeeds.
    let ro = rollout(&op, json!({"server_ids": servers, "max_parallel": 4, "reason": "first sites"})).await;
    assert_eq!(ro["status"], "succeeded", "{ro}");
    assert!(statuses(&ro).iter().all(|s| s == "succeeded"), "{ro}");
    for i in 0..10 {
        until_served(&through(fleet.host(i).unwrap().addr()), &format!("site{i}.example.test"), "backend=old", 10).await;
    }
    let before: Vec<i64> = (0..10).map(|i| live_number(&fleet, i)).collect();

    // Host 3's own nginx configuration breaks; then every site changes.
    let conf = fleet.host(3).unwrap().dir().join("etc-nginx/nginx.conf");
    let good = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("{good}\nbroken_by_hand;\n")).unwrap();
    for d in &domains {
        assert_eq!(op.patch(&format!("/api/v1/domains/{d}"), json!({"target_port": 8081})).await.status(), 200);
    }
    let ro = rollout(&op, json!({"server_ids": servers, "max_parallel": 1, "max_failures": 0})).await;
    assert_eq!(ro["status"], "stopped", "{ro}");
    let st = statuses(&ro);
    assert_eq!(st[..4], ["succeeded", "succeeded", "succeeded", "failed"], "{ro}");
    assert!(st[4..].iter().all(|s| s == "skipped"), "the rest is left alone: {ro}");
    assert_eq!(ro["targets"][0]["position"], 0, "the first server is the canary");
    assert!(ro["targets"][3]["error"].as_str().unwrap().contains("broken_by_hand"), "{ro}");
    for (i, before_i) in before.iter().enumerate() {
        let c = through(fleet.host(i).unwrap().addr());
        let (_, body) = get(&c, &format!("site{i}.example.test"), "/").await.unwrap();
        if i < 3 {
            assert!(body.contains("backend=new"), "host {i}: {body}");
            assert_eq!(live_number(&fleet, i), before_i + 1);
        } else {
            assert!(body.contains("backend=old"), "host {i} keeps its previous generation: {body}");
            assert_eq!(live_number(&fleet, i), *before_i, "host {i} untouched");
        }
    }
    // A broken canary stops the rollout before anyone else is touched.
    let order: Vec<i64> = std::iter::once(servers[3]).chain(servers.iter().copied().filter(|s| *s != servers[3])).collect();
    let ro = rollout(&op, json!({"server_ids": order, "canary_server_id": servers[3], "max_parallel": 4})).await;
    assert_eq!(ro["status"], "stopped");
    let st = statuses(&ro);
    assert_eq!(st[0], "failed");
    assert!(st[1..].iter().all(|s| s == "skipped"), "{ro}");
    assert_eq!(live_number(&fleet, 5), before[5]);
    // Fixed: the rest rolls out, in parallel.
    std::fs::write(&conf, good).unwrap();
    let ro = rollout(&op, json!({"max_parallel": 4, "reason": "after the fix"})).await;
    assert_eq!(ro["status"], "succeeded", "{ro}");
    assert_eq!(ro["targets"].as_array().unwrap().len(), 7, "only servers with pending changes: {ro}");
    for i in 0..10 {
        until_served(&through(fleet.host(i).unwrap().addr()), &format!("site{i}.example.test"), "backend=new", 10).await;
    }
    let bad = op.post("/api/v1/proxy/rollouts", json!({"server_ids": [], "max_parallel": 0})).await;
    let p = expect_problem(bad, 422, "validation_failed").await;
    let fields: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"max_parallel") && fields.contains(&"server_ids"), "{p}");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_a_group_rolls_out_to_both_servers_by_itself() {
    let Some(fleet) = fleet(3).await else { return };
    start_backend(&fleet, 2, &[(8080, "b")]);
    let t = quick_app().await;
    let op = t.user("ops", "operator").await;
    let (a, b) = (add_server(&op, &fleet, 0, "a").await, add_server(&op, &fleet, 1, "b").await);
    install(&op, a).await;
    install(&op, b).await;
    let g = group(&op, "web", a, json!({})).await;
    domain(&op, g, "moving.example.test", fleet.host(2).unwrap().addr(), 8080).await;
    let (ca, cb) = (through(fleet.host(0).unwrap().addr()), through(fleet.host(1).unwrap().addr()));
    until_served(&ca, "moving.example.test", "backend=b", 20).await;
    assert_eq!(op.patch(&format!("/api/v1/domain-groups/{g}"), json!({"server_id": b})).await.status(), 200);
    until_served(&cb, "moving.example.test", "backend=b", 20).await;
    eventually(20, || async {
        let (_, body) = get(&ca, "moving.example.test", "/").await.ok()?;
        (!body.contains("backend=")).then_some(())
    })
    .await;
    let ros = eventually(20, || async {
        let ros = op.json("/api/v1/proxy/rollouts").await;
        (ros["items"][0]["status"] != "running").then_some(ros)
    })
    .await;
    let ro = &ros["items"][0];
    assert_eq!(ro["trigger"], "auto", "{ros}");
    let mut ids: Vec<i64> = ro["targets"].as_array().unwrap().iter().map(|t| t["server_id"].as_i64().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, vec![a, b], "{ro}");
    assert_eq!(ro["status"], "succeeded");
    t.stop().await;
}

/// The real `gantry serve` over a SQLite file in `dir`, so the test can SIGKILL it.
struct Process {
    child: std::process::Child,
    base: String,
}

impl Process {
    async fn start(dir: &std::path::Path, port: u16) -> Process {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_gantry"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GANTRY_DATA_DIR", dir)
            .env("GANTRY_LISTEN", format!("127.0.0.1:{port}"))
            .env("GANTRY_ADMIN_PASSWORD", crate::helpers::ADMIN_PASSWORD)
            .env("GANTRY_LOG_LEVEL", "info")
            .env("GANTRY_JOBS__POLL_MS", "50")
            .env("GANTRY_JOBS__LEASE_SECONDS", "3")
            .env("GANTRY_JOBS__BACKOFF_BASE_SECONDS", "0")
            .env("GANTRY_EVENTS__POLL_MS", "50")
            .env("GANTRY_SERVERS__PROBE_INTERVAL_SECONDS", "0")
            .env("GANTRY_PROXY__AUTO_APPLY", "false")
            .env("GANTRY_PROXY__LEASE_SECONDS", "3")
            .env("GANTRY_PROXY__RECONCILE_INTERVAL_SECONDS", "1")
            .env("GANTRY_PROXY__DRIFT_INTERVAL_SECONDS", "0")
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(dir.join(format!("gantry-{port}.log"))).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        eventually(30, || async { http.get(format!("{base}/readyz")).send().await.ok().filter(|r| r.status() == 200).map(|_| ()) }).await;
        Process { child, base }
    }

    async fn admin(&self) -> Session {
        let mut s = Session {
            http: reqwest::Client::builder().cookie_store(true).timeout(Duration::from_secs(60)).build().unwrap(),
            base: self.base.clone(),
            csrf: None,
            bearer: None,
        };
        s.login("admin", crate::helpers::ADMIN_PASSWORD).await;
        s
    }

    fn kill(self) {
        drop(self);
    }
}

impl Drop for Process {
    /// A failing test must not leave a `gantry serve` behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// What nginx on host `i` says it serves, read inside the host.
fn marker(fleet: &Fleet, i: usize) -> String {
    fleet.sh_ok(i, "curl -s --max-time 2 http://127.0.0.1:8089/gantry/generation || true").unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_gantry_mid_apply_leaves_the_old_or_the_new_generation_never_a_mix() {
    let Some(fleet) = fleet(2).await else { return };
    start_backend(&fleet, 1, &[(8080, "b1"), (8081, "b2")]);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let p = Process::start(dir.path(), port).await;
    let op = p.admin().await;
    let sid = add_server(&op, &fleet, 0, "edge").await;
    install(&op, sid).await;
    let g = group(&op, "web", sid, json!({})).await;
    let d = domain(&op, g, "crash.example.test", fleet.host(1).unwrap().addr(), 8080).await;
    assert_eq!(post_job(&op, &format!("/api/v1/servers/{sid}/proxy/apply"), json!({})).await["status"], "succeeded");
    let client = through(fleet.host(0).unwrap().addr());
    until_served(&client, "crash.example.test", "backend=b1", 10).await;
    // One apply takes a few hundred milliseconds; kill at points spread across it.
    let mut p = Some(p);
    let mut port_flip = 8081;
    for delay_ms in [0u64, 15, 40, 70, 110, 160, 240, 400] {
        let proc_ = p.take().unwrap();
        let op = proc_.admin().await;
        assert_eq!(op.patch(&format!("/api/v1/domains/{d}"), json!({"target_port": port_flip})).await.status(), 200);
        let r = op.post(&format!("/api/v1/servers/{sid}/proxy/apply"), json!({"reason": format!("kill after {delay_ms} ms")})).await;
        assert_eq!(r.status(), 202);
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        proc_.kill();
        // Restart: the job's and the server's leases lapse; recovery makes the server consistent.
        let restarted = Process::start(dir.path(), port).await;
        let op = restarted.admin().await;
        let st = eventually(60, || async {
            let st = state(&op, sid).await;
            let settled = st["inflight_generation_id"].is_null() && st["status"] != "applying";
            let jobs = op.json("/api/v1/jobs?kind=proxy.apply&status=running").await;
            let queued = op.json("/api/v1/jobs?kind=proxy.apply&status=queued").await;
            (settled && jobs["items"].as_array().unwrap().is_empty() && queued["items"].as_array().unwrap().is_empty()).then_some(st)
        })
        .await;
        // The pointer, the files, the loaded configuration and the traffic all agree on one generation.
        let n = live_number(&fleet, 0);
        assert_eq!(st["live"]["number"], n, "Gantry's record matches the server's pointer: {st}");
        let generation = op.json(&format!("/api/v1/servers/{sid}/proxy/generations/{n}")).await;
        let on_disk: std::collections::BTreeMap<String, String> = {
            let live = fleet.host(0).unwrap().dir().join("etc-nginx/gantry/live");
            std::fs::read_dir(&live)
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    (e.file_name().to_string_lossy().into_owned(), std::fs::read_to_string(e.path()).unwrap())
                })
                .collect()
        };
        let recorded: std::collections::BTreeMap<String, String> = serde_json::from_value(generation["files"].clone()).unwrap();
        assert_eq!(on_disk, recorded, "the live directory holds exactly generation {n}");
        assert_eq!(marker(&fleet, 0), generation["hash"].as_str().unwrap(), "nginx has loaded generation {n}");
        let serves_new = recorded.values().any(|c| c.contains(&format!(":{port_flip};")));
        let want = if serves_new == (port_flip == 8081) { "backend=b2" } else { "backend=b1" };
        let (_, body) = get(&client, "crash.example.test", "/").await.unwrap();
        assert!(body.contains(want), "traffic follows generation {n} (kill after {delay_ms} ms): {body}");
        port_flip = if port_flip == 8081 { 8080 } else { 8081 };
        p = Some(restarted);
    }
    // The kills must have hit applies in flight, or this test proved nothing about recovery.
    let op = p.as_ref().unwrap().admin().await;
    let gens = op.json(&format!("/api/v1/servers/{sid}/proxy/generations?limit=100")).await;
    let recovered = gens["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["status"] == "interrupted" || g["error"].as_str().is_some_and(|e| e.contains("recovery")))
        .count();
    assert!(recovered > 0, "no kill landed during an apply: {gens}");
    p.take().unwrap().kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_reconcile_each_change_once_and_never_at_the_same_time() {
    if Backend::Postgres.server_url().is_none() {
        return;
    }
    let Some(fleet) = fleet(2).await else { return };
    start_backend(&fleet, 1, &[(8080, "b1"), (8081, "b2")]);
    // Replicas share the master key (as in production): each decrypts what the other stored.
    let key = gantry_core::secrets::generate_key().unwrap();
    let tweak = |c: &mut gantry::config::Config| {
        c.proxy.debounce_ms = 1000;
        c.proxy.drift_interval_seconds = 0;
        c.master_key = Some(key.clone());
    };
    let a = TestApp::spawn_on(crate::helpers::FreshDb::new(Backend::Postgres).await, tweak).await;
    let b = TestApp::spawn_on(a.db.same_database(), tweak).await;
    let (oa, ob) = (a.user("ops", "operator").await, {
        let mut s = b.client();
        s.login("ops", "password-of-user").await;
        s
    });
    let sid = add_server(&oa, &fleet, 0, "edge").await;
    install(&oa, sid).await;
    let g = group(&oa, "web", sid, json!({})).await;
    let d = domain(&ob, g, "two.example.test", fleet.host(1).unwrap().addr(), 8080).await;
    let client = through(fleet.host(0).unwrap().addr());
    until_served(&client, "two.example.test", "backend=b1", 20).await;
    eventually(20, || async { (state(&oa, sid).await["status"] == "in_sync").then_some(()) }).await;
    // Let both replicas' debouncers finish with the creation events: a replica's relay may hand
    // them over up to 1.5 s late (it waits at id gaps), and a timer started then would fire mid-burst.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let gens_before = oa.json(&format!("/api/v1/servers/{sid}/proxy/generations?limit=200")).await["items"].as_array().unwrap().len();
    // A burst of edits through both replicas: both relays see every event, the work is queued once.
    for i in 0..10 {
        let s = if i % 2 == 0 { &oa } else { &ob };
        let port = if i % 2 == 0 { 8081 } else { 8080 };
        let r = s.patch(&format!("/api/v1/domains/{d}"), json!({"target_port": port, "options": {"proxy_send_timeout": 10 + i}})).await;
        assert_eq!(r.status(), 200);
    }
    // The last edit is live (its send timeout shows on the server), then nothing more follows.
    let live = fleet.host(0).unwrap().dir().join(format!("etc-nginx/gantry/live/group-{g}.conf"));
    eventually(20, || async { std::fs::read_to_string(&live).ok().filter(|c| c.contains("proxy_send_timeout 19s;")).map(|_| ()) }).await;
    until_served(&client, "two.example.test", "backend=b1", 20).await;
    eventually(20, || async { (state(&ob, sid).await["status"] == "in_sync").then_some(()) }).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let gens = oa.json(&format!("/api/v1/servers/{sid}/proxy/generations?limit=200")).await["items"].as_array().unwrap().clone();
    let brief: Vec<String> = gens
        .iter()
        .map(|g| {
            format!(
                "#{} {} {} job {} +{}~{}-{} at {}",
                g["number"],
                g["trigger"],
                &g["hash"].as_str().unwrap()[..8],
                g["job_id"],
                g["added"],
                g["changed"],
                g["removed"],
                g["created_at"]
            )
        })
        .collect();
    assert_eq!(gens.len(), gens_before + 1, "one burst, one generation, whichever replica ran it: {brief:#?}");
    // Manual applies on both replicas at once run one after the other (the server's lease).
    let path = format!("/api/v1/servers/{sid}/proxy/apply");
    let (ja, jb) = tokio::join!(
        post_job(&oa, &path, json!({"force": true, "reason": "a"})),
        post_job(&ob, &path, json!({"force": true, "reason": "b"}))
    );
    assert_eq!((ja["status"].as_str(), jb["status"].as_str()), (Some("succeeded"), Some("succeeded")), "{ja}\n{jb}");
    let gens = oa.json(&format!("/api/v1/servers/{sid}/proxy/generations?limit=2")).await["items"].as_array().unwrap().clone();
    let t = |g: &Value, k: &str| chrono::DateTime::parse_from_rfc3339(g[k].as_str().unwrap()).unwrap();
    let (newer, older) = (&gens[0], &gens[1]);
    assert!(t(older, "finished_at") <= t(newer, "created_at"), "the two applies did not overlap: {older} / {newer}");
    assert!(gens.iter().all(|g| g["status"] == "live" || g["status"] == "superseded"), "{gens:?}");
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sudo_mode_and_a_listen_address_work_too() {
    let Some(fleet) = fleet(2).await else { return };
    start_backend(&fleet, 1, &[(8080, "b1")]);
    let t = quick_app().await;
    let op = t.user("ops", "operator").await;
    let addr = fleet.host(0).unwrap().addr();
    let body = json!({"name": "edge", "address": addr.to_string(), "ssh_user": gantry_testfleet::DEPLOY_USER, "privilege": "sudo",
        "credentials": {"private_key": fleet.client_private_key()},
        "parameters": {"proxy_listen_address": addr.to_string(), "proxy_status_port": 18089}});
    let r = op.post("/api/v1/servers", body).await;
    assert_eq!(r.status(), 201);
    let sid = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let job = install(&op, sid).await;
    assert_eq!(job["result"]["install"]["status_port"], 18089);
    let g = group(&op, "web", sid, json!({})).await;
    domain(&op, g, "sudo.example.test", fleet.host(1).unwrap().addr(), 8080).await;
    until_served(&through(addr), "sudo.example.test", "backend=b1", 20).await;
    let live = std::fs::read_to_string(fleet.host(0).unwrap().dir().join(format!("etc-nginx/gantry/live/group-{g}.conf"))).unwrap();
    assert!(live.contains(&format!("listen {addr}:80;")) && !live.contains("listen 80;"), "{live}");
    // Files written through sudo belong to root, like the rest of /etc/nginx.
    let owner = fleet.sh_ok(0, "stat -c %U /etc/nginx/gantry/live/00-gantry.conf /etc/nginx/conf.d/gantry.conf").unwrap();
    assert!(owner.lines().all(|l| l == "root"), "{owner}");
    // The marker answers on the configured status port. (Traffic can move before the apply records
    // its generation as live, so wait for the record to catch up.)
    eventually(10, || async {
        let marker = fleet.sh_ok(0, "curl -s http://127.0.0.1:18089/gantry/generation").unwrap();
        (state(&op, sid).await["live"]["hash"] == marker.trim()).then_some(())
    })
    .await;
    // Deleting a server with the proxy installed names it; with force, Gantry forgets it and its generations.
    let p = expect_problem(op.delete(&format!("/api/v1/servers/{sid}")).await, 409, "invalid_state").await;
    assert!(p["detail"].as_str().unwrap().contains("reverse proxy"), "{p}");
    assert_eq!(op.delete(&format!("/api/v1/servers/{sid}?force=true")).await.status(), 200);
    expect_problem(op.get(&format!("/api/v1/servers/{sid}/proxy/generations")).await, 404, "not_found").await;
    t.stop().await;
}
