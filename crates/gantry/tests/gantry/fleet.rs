//! Servers against the real test fleet: real sshd in network namespaces.

use crate::helpers::{Backend, Session, TestApp, eventually, expect_problem, log_text};
use gantry_servers::ServersService;
use gantry_ssh::{Cmd, RunOptions, SshError};
use gantry_testfleet::{Fleet, require_fleet};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn fleet(n: usize) -> Option<Fleet> {
    tokio::task::spawn_blocking(move || require_fleet(n)).await.unwrap()
}

async fn add_server(op: &Session, name: &str, fleet: &Fleet, i: usize, user: &str, key: &str, extra: Value) -> i64 {
    let mut body = json!({"name": name, "address": fleet.host(i).unwrap().addr().to_string(), "ssh_user": user,
        "credentials": {"private_key": key}, "parameters": {"connect_timeout_seconds": 2}});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let r = op.post("/api/v1/servers", body).await;
    assert_eq!(r.status(), 201, "create {name}");
    r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

/// Runs a check and returns the finished job.
async fn check(op: &Session, id: i64) -> Value {
    let r = op.post(&format!("/api/v1/servers/{id}/check"), json!({})).await;
    assert_eq!(r.status(), 202);
    let job: Value = r.json().await.unwrap();
    let jid = job["id"].as_i64().unwrap();
    eventually(30, || async {
        let j = op.json(&format!("/api/v1/jobs/{jid}")).await;
        matches!(j["status"].as_str(), Some("succeeded" | "failed")).then_some(j)
    })
    .await
}

fn failed_step(job: &Value) -> String {
    job["error"].as_str().unwrap_or("").split(':').next().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_passes_pins_the_host_key_and_reports_facts() {
    let Some(fleet) = fleet(2).await else { return };
    let t = TestApp::spawn(Backend::Sqlite).await;
    let op = t.user("ops", "operator").await;
    let key = fleet.client_private_key().to_string();
    let id = add_server(&op, "h0", &fleet, 0, "root", &key, json!({})).await;

    let job = check(&op, id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let steps: Vec<&str> = job["result"]["steps"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(steps, vec!["resolve", "tcp", "handshake", "host_key", "auth", "privilege", "facts"]);
    assert!(job["result"]["steps"].as_array().unwrap().iter().all(|s| s["ok"] == true));
    let facts = &job["result"]["facts"];
    let os = std::fs::read_to_string("/etc/os-release").unwrap();
    let os_id = os.lines().find_map(|l| l.strip_prefix("ID=")).unwrap().trim_matches('"').to_string();
    assert_eq!(facts["os_id"], os_id.as_str());
    assert_eq!(facts["arch"], std::env::consts::ARCH);
    assert_eq!(facts["nginx_installed"], true);
    assert_eq!(facts["port_80"], "free", "nothing listens on 80 in a fresh host");
    assert!(facts["disk_free_mib"].as_u64().unwrap() > 0);

    let s = op.json(&format!("/api/v1/servers/{id}")).await;
    assert_eq!(s["status"], "ok");
    assert_eq!(s["last_check_job_id"], job["id"], "the server remembers its latest check");
    assert_eq!(s["host_key"]["pinned"], fleet.host(0).unwrap().host_key_fingerprint(), "first contact pins the host key");
    assert!(s["last_seen_at"].is_string() && s["facts"]["arch"].is_string());

    // With nginx running, the facts say so.
    fleet.start_nginx(0).unwrap();
    let job = check(&op, id).await;
    assert_eq!(job["result"]["facts"]["port_80"], "nginx", "{job}");

    // sudo mode with a user that has passwordless sudo works too.
    let deploy = add_server(&op, "h1-deploy", &fleet, 1, "deploy", &key, json!({"privilege": "sudo"})).await;
    assert_eq!(check(&op, deploy).await["status"], "succeeded");

    // The key never reached the logs, audit or events.
    let body_line = key.lines().nth(1).unwrap();
    assert!(!log_text().contains(body_line), "private key material in the logs");
    let admin = t.admin().await;
    assert!(!admin.json("/api/v1/audit?limit=500").await.to_string().contains(body_line));
    // Status changes were events.
    let events = t.app().platform.repos.events.after(gantry_core::ids::EventId(0), 1000).await.unwrap();
    assert!(events.iter().any(|e| e.kind == "server.status_changed" && e.payload["to"] == "ok"));
    t.stop().await;
    fleet.teardown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_key_wrong_user_and_sudo_without_nopasswd_fail_at_the_right_step() {
    let Some(fleet) = fleet(1).await else { return };
    let t = TestApp::spawn(Backend::Sqlite).await;
    let op = t.user("ops", "operator").await;
    let good = fleet.client_private_key().to_string();
    let other = gantry_ssh::SshKey::generate("other").unwrap().to_openssh().unwrap();
    let other = secrecy::ExposeSecret::expose_secret(&other).to_string();

    let wrong_key = add_server(&op, "wrong-key", &fleet, 0, "root", &other, json!({})).await;
    let job = check(&op, wrong_key).await;
    assert_eq!(job["status"], "failed");
    assert_eq!(failed_step(&job), "auth", "{}", job["error"]);
    assert_eq!(op.json(&format!("/api/v1/servers/{wrong_key}")).await["status"], "auth_failed");

    let wrong_user = add_server(&op, "wrong-user", &fleet, 0, "ghost", &good, json!({"privilege": "sudo"})).await;
    let job = check(&op, wrong_user).await;
    assert_eq!(failed_step(&job), "auth", "{}", job["error"]);

    let nosudo = add_server(&op, "nosudo", &fleet, 0, gantry_testfleet::NOSUDO_USER, &good, json!({"privilege": "sudo"})).await;
    let job = check(&op, nosudo).await;
    assert_eq!(failed_step(&job), "privilege", "{}", job["error"]);
    assert!(job["error"].as_str().unwrap().contains("sudo needs a password"), "{}", job["error"]);

    // The server refusing our key (revoked authorized_keys) is the same auth failure.
    let ok = add_server(&op, "refused", &fleet, 0, "root", &good, json!({})).await;
    assert_eq!(check(&op, ok).await["status"], "succeeded");
    fleet.refuse_client_key(0).unwrap();
    assert_eq!(failed_step(&check(&op, ok).await), "auth");
    fleet.accept_client_key(0).unwrap();
    t.stop().await;
    fleet.teardown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_hosts_fail_at_tcp_within_the_timeout() {
    let Some(fleet) = fleet(1).await else { return };
    let t = TestApp::spawn(Backend::Sqlite).await;
    let op = t.user("ops", "operator").await;
    let id = add_server(&op, "down", &fleet, 0, "root", fleet.client_private_key(), json!({})).await;
    fleet.link_down(0).unwrap();
    let started = Instant::now();
    let job = check(&op, id).await;
    assert!(started.elapsed() < Duration::from_secs(10), "bounded by the 2 s connect timeout");
    assert_eq!(failed_step(&job), "tcp", "{}", job["error"]);
    assert_eq!(op.json(&format!("/api/v1/servers/{id}")).await["status"], "unreachable");
    fleet.link_up(0).unwrap();
    fleet.stop_sshd(0).unwrap();
    let job = check(&op, id).await;
    assert_eq!(failed_step(&job), "tcp", "connection refused: {}", job["error"]);
    fleet.start_sshd(0).unwrap();
    assert_eq!(check(&op, id).await["status"], "succeeded");
    // A name that does not resolve fails at the first step.
    let r = op
        .post("/api/v1/servers", json!({"name": "nxdomain", "address": "does-not-exist.invalid", "credentials": {"generate": true}}))
        .await;
    let nx = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    assert_eq!(failed_step(&check(&op, nx).await), "resolve");
    t.stop().await;
    fleet.teardown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_host_key_blocks_everything_until_an_admin_accepts_it() {
    let Some(fleet) = fleet(1).await else { return };
    let t = TestApp::spawn(Backend::Sqlite).await;
    let op = t.user("ops", "operator").await;
    let admin = t.admin().await;
    let id = add_server(&op, "pinned", &fleet, 0, "root", fleet.client_private_key(), json!({})).await;
    assert_eq!(check(&op, id).await["status"], "succeeded");
    let old = fleet.host(0).unwrap().host_key_fingerprint().to_string();

    let new = fleet.replace_host_key(0).unwrap();
    assert_ne!(old, new);
    let job = check(&op, id).await;
    assert_eq!(failed_step(&job), "host_key", "{}", job["error"]);
    assert!(job["error"].as_str().unwrap().contains("host key changed"));
    let s = op.json(&format!("/api/v1/servers/{id}")).await;
    assert_eq!(s["status"], "host_key_changed");
    assert_eq!(s["host_key"]["pinned"], old.as_str());
    assert_eq!(s["host_key"]["pending"], new.as_str());
    // Other modules' operations are refused.
    let svc = t.app().platform.service::<ServersService>().unwrap();
    assert!(svc.connect(id).await.is_err(), "connections to a server with a changed key must be refused");

    // Operators cannot accept; admins can, only the pending key, audited.
    expect_problem(op.post(&format!("/api/v1/servers/{id}/host-key/accept"), json!({"fingerprint": new})).await, 403, "forbidden").await;
    let r = admin.post(&format!("/api/v1/servers/{id}/host-key/accept"), json!({"fingerprint": new})).await;
    assert_eq!(r.status(), 200);
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["host_key"]["pinned"], new.as_str());
    assert!(s["host_key"]["pending"].is_null());
    let audit = admin.json(&format!("/api/v1/audit?entity_type=server&entity_id={id}&action=server.host_key_accept")).await;
    assert_eq!(audit["items"][0]["actor_name"], "admin");
    assert_eq!(check(&op, id).await["status"], "succeeded");
    assert!(svc.connect(id).await.is_ok());
    t.stop().await;
    fleet.teardown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_servers_checked_at_once_all_complete() {
    let Some(fleet) = fleet(50).await else { return };
    let t = TestApp::spawn_on(crate::helpers::FreshDb::new(Backend::Sqlite).await, |c| c.jobs.concurrency = 50).await;
    let op = t.user("ops", "operator").await;
    let key = fleet.client_private_key().to_string();
    let mut ids = Vec::new();
    for i in 0..50 {
        ids.push(add_server(&op, &format!("f{i}"), &fleet, i, "root", &key, json!({})).await);
    }
    let mut jobs = Vec::new();
    for id in &ids {
        let j: Value = op.post(&format!("/api/v1/servers/{id}/check"), json!({})).await.json().await.unwrap();
        jobs.push(j["id"].as_i64().unwrap());
    }
    for jid in jobs {
        let j = eventually(60, || async {
            let j = op.json(&format!("/api/v1/jobs/{jid}")).await;
            matches!(j["status"].as_str(), Some("succeeded" | "failed")).then_some(j)
        })
        .await;
        assert_eq!(j["status"], "succeeded", "{j}");
    }
    let ok = op.json("/api/v1/servers?status=ok&limit=100").await;
    assert_eq!(ok["items"].as_array().unwrap().len(), 50);
    t.stop().await;
    fleet.teardown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_arguments_reach_the_server_literally_and_uploads_are_atomic() {
    let Some(fleet) = fleet(1).await else { return };
    let t = TestApp::spawn(Backend::Sqlite).await;
    let op = t.user("ops", "operator").await;
    let id = add_server(&op, "q", &fleet, 0, "deploy", fleet.client_private_key(), json!({"privilege": "sudo"})).await;
    assert_eq!(check(&op, id).await["status"], "succeeded");
    let svc = t.app().platform.service::<ServersService>().unwrap();
    let (conn, sudo) = svc.connect(id).await.unwrap();
    assert!(sudo);
    let hostile = [
        "plain",
        "with space",
        "it's",
        "\"double\"",
        "semi;colon",
        "$(touch /tmp/pwned)",
        "`touch /tmp/pwned`",
        "a && b || c",
        "new\nline",
        "tab\there",
        "*glob?[a]",
        "~root",
        "$HOME",
        "back\\slash",
        "-n",
        "--",
        "{a,b}",
        "ünïcödé ✓",
        "",
        "' ; rm -rf / ; '",
    ];
    for h in hostile {
        let out = conn.run(&Cmd::new("printf").arg("%s").arg(h), RunOptions::default()).await.unwrap();
        assert_eq!(out.stdout_text(), h, "argument {h:?} was altered");
        let out = conn.run(&Cmd::new("printf").arg("%s").arg(h).sudo(), RunOptions::default()).await.unwrap();
        assert_eq!(out.stdout_text(), h, "argument {h:?} was altered through sudo");
    }
    assert!(!fleet.sh_ok(0, "test -e /tmp/pwned && echo yes || echo no").unwrap().contains("yes"), "a hostile argument was executed");
    let nul = conn.run(&Cmd::new("printf").arg("a\0b"), RunOptions::default()).await;
    assert!(matches!(nul, Err(SshError::InvalidCommand(_))), "NUL must be rejected before sending");

    // Atomic upload (as root through sudo), with a hostile file name, read back exactly.
    let path = "/tmp/gantry test 'file'; $(x).conf";
    conn.upload_atomic(path, b"server { listen 80; }\n", 0o640, Some("root:root"), true).await.unwrap();
    assert_eq!(conn.read_file(path, 1 << 20, true).await.unwrap(), b"server { listen 80; }\n");
    let mode = fleet.exec(0, &["stat", "-c", "%a %U", path]).unwrap();
    assert_eq!(String::from_utf8_lossy(&mode.stdout).trim(), "640 root");
    let leftovers = fleet.sh_ok(0, "ls -a /tmp | grep -c gantry-upload || true").unwrap();
    assert_eq!(leftovers.trim(), "0", "no temporary files left behind");
    // Output is bounded.
    let big = conn
        .run(&Cmd::new("head").args(["-c", "3000000", "/dev/zero"]), RunOptions { max_output: Some(1000), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(big.stdout.len(), 1000);
    assert!(big.truncated);
    t.stop().await;
    fleet.teardown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_track_availability_as_events_and_metrics() {
    let Some(fleet) = fleet(1).await else { return };
    let t = TestApp::spawn_on(crate::helpers::FreshDb::new(Backend::Sqlite).await, |c| c.servers.probe_interval_seconds = 1).await;
    let op = t.user("ops", "operator").await;
    let id = add_server(&op, "probed", &fleet, 0, "root", fleet.client_private_key(), json!({})).await;
    let mut stream = op.get("/api/v1/events?kinds=server.").await;
    // The probe finds it up without anyone running a check...
    eventually(15, || async { (op.json(&format!("/api/v1/servers/{id}")).await["status"] == "ok").then_some(()) }).await;
    let metrics = t.client().get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("gantry_server_up{server=\"probed\"} 1"), "{metrics}");
    // ...and notices when it goes away.
    fleet.link_down(0).unwrap();
    eventually(30, || async { (op.json(&format!("/api/v1/servers/{id}")).await["status"] == "unreachable").then_some(()) }).await;
    let metrics = t.client().get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("gantry_server_up{server=\"probed\"} 0"));
    // Both transitions reached the live stream.
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.iter().any(|s: &String| s.contains("\"to\":\"unreachable\"")) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk()).await.expect("event in time").unwrap().unwrap();
        seen.push(String::from_utf8_lossy(&chunk).into_owned());
    }
    let all = seen.join("");
    assert!(all.contains("event: server.status_changed") && all.contains("\"to\":\"ok\""), "{all}");
    fleet.link_up(0).unwrap();
    t.stop().await;
    fleet.teardown().unwrap();
}
