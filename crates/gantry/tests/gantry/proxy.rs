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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_apply_and_traffic_flows_to_backends() {
    let Some(fleet) = fleet(3).await else { return };
    start_backend(&fleet, 1, &[(8080, "b1"), (8081, "b1-alt")]);
    start_backend(&fleet, 2, &[(8080, "b2")]);
    let t = TestApp::spawn_on(crate::helpers::FreshDb::new(Backend::Sqlite).await, |c| {
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

    let st = state(&op, sid).await;
    assert_eq!(st["status"], "in_sync", "{st}");
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
    let Some(s) = Stand::new(2, |_| {}).await else { return };
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
    until_served(&s.client, "app.example.test", "backend=b2", 10).await;
    eventually(20, || async { (s.state().await["status"] == "in_sync").then_some(()) }).await;
    // Give a stray second apply the time to show up before counting.
    tokio::time::sleep(Duration::from_millis(800)).await;
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
    let Some(s) = Stand::new(2, |_| {}).await else { return };
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
