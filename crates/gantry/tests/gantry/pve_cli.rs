//! The `gantry pve` CLI, run as the real binary: directly against the
//! simulator with the YAML files (test, plan), and against an in-process
//! Gantry with an API token (deploy, cleanup). Standard streams are pipes
//! here, so progress comes as plain lines.

use crate::helpers::{Backend, FreshDb, TestApp, write_file};
use gantry_pvesim::{DEMO_TOKEN_SECRET, SimConfig, SimHandle, Simulator, Timing};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;

const SECRET_VAR: &str = "PVE_LAB_SECRET";

async fn sim() -> SimHandle {
    Simulator::start(SimConfig { timing: Timing::fast(), ..SimConfig::default() }).await.expect("simulator starts")
}

/// Writes connections.yml, deployment_config.yml and users.yml for the simulator.
fn write_files(dir: &Path, sim: &SimHandle, users: usize) {
    let endpoints: String = sim.urls().iter().map(|u| format!("      - {u}\n")).collect();
    write_file(
        &dir.join("connections.yml"),
        &format!(
            "clusters:\n  - name: lab\n    endpoints:\n{endpoints}    token_id: root@pam!gantry\n    secret_env: {SECRET_VAR}\n    fingerprint: \"{}\"\n    vmid_range: 20000-20999\n",
            sim.fingerprint()
        ),
    );
    write_file(
        &dir.join("deployment_config.yml"),
        "name: cli-lab
strategy: spread
vms:
  - key: router
    name: '{user}-router'
    template: router
    memory_mib: 256
    networks: [hq.100]
    start: true
  - key: client
    name: '{user}-client'
    template: debian-12
    memory_mib: 1024
    networks: [hq.100]
  - key: server
    name: '{user}-server'
    template: debian-12
    memory_mib: 1024
    networks: [hq.200]
",
    );
    let list: String = (1..=users).map(|i| format!("  - student{i}@pve\n")).collect();
    write_file(&dir.join("users.yml"), &format!("users:\n{list}"));
}

/// Runs the built `gantry` with a clean environment (plus `env`) in `dir`; returns exit code, stdout, stderr.
async fn gantry(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_gantry"));
    c.env_clear().current_dir(dir).args(args).stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().await.expect("run gantry");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_test_with_the_yaml_files_reports_version_and_nodes() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sim, 1);
    let env = [(SECRET_VAR, DEMO_TOKEN_SECRET)];
    let (code, out, err) = gantry(dir.path(), &["pve", "clusters", "test", "--connections", "connections.yml"], &env).await;
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("cluster lab: ok"), "{out}");
    assert!(out.contains("9.1.3"), "{out}");
    assert!(out.contains("3/3 online"), "{out}");

    let (code, out, err) =
        gantry(dir.path(), &["pve", "clusters", "test", "lab", "--connections", "connections.yml", "--json"], &env).await;
    assert_eq!(code, 0, "{err}");
    let reports: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(reports[0]["cluster"], "lab");
    assert_eq!(reports[0]["version"], "9.1.3");
    assert_eq!(reports[0]["nodes_total"], 3);
    assert_eq!(reports[0]["missing_privileges"], json!([]));

    // Without the secret in the environment nothing is sent, and the message says why.
    let (code, _, err) = gantry(dir.path(), &["pve", "clusters", "test", "--connections", "connections.yml"], &[]).await;
    assert_eq!(code, 2);
    assert!(err.contains(SECRET_VAR), "{err}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_with_the_yaml_files_spreads_vms_over_the_nodes() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sim, 3);
    let env = [(SECRET_VAR, DEMO_TOKEN_SECRET)];
    let args = [
        "pve",
        "plan",
        "--connections",
        "connections.yml",
        "--cluster",
        "lab",
        "--config",
        "deployment_config.yml",
        "--users",
        "users.yml",
    ];
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let (code, out, err) = gantry(dir.path(), &json_args, &env).await;
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["errors"], json!([]), "{plan}");
    let stands = plan["stands"].as_array().unwrap();
    assert_eq!(stands.len(), 3);
    let per_node = plan["per_node"].as_object().unwrap();
    assert_eq!(per_node.len(), 3, "VMs on every node: {plan}");
    assert_eq!(per_node.values().map(|v| v.as_u64().unwrap()).sum::<u64>(), 9);
    for s in stands {
        let nodes: std::collections::BTreeSet<&str> = s["vms"].as_array().unwrap().iter().map(|v| v["node"].as_str().unwrap()).collect();
        assert_eq!(nodes.len(), 3, "spread puts each user's VMs on different nodes: {s}");
        for v in s["vms"].as_array().unwrap() {
            assert!((20_000..=20_999).contains(&v["vmid"].as_u64().unwrap()), "VMIDs from connections.yml's range: {v}");
        }
    }

    // The table for people.
    let (code, out, err) = gantry(dir.path(), &args, &env).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("USER") && out.contains("student2@pve") && out.contains("VMs per node: pve1 3, pve2 3, pve3 3"), "{out}");
    // Planning changed nothing on the cluster.
    assert!(sim.requests().iter().all(|r| r.method == "GET"), "only reads");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yaml_mistakes_are_located_and_nothing_is_sent() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sim, 1);
    write_file(&dir.path().join("users.yml"), "users:\n  - student1@pve\n  - student2\n");
    let env = [(SECRET_VAR, DEMO_TOKEN_SECRET)];
    let sent = sim.requests().len();
    let (code, _, err) = gantry(
        dir.path(),
        &["pve", "plan", "--connections", "connections.yml", "--config", "deployment_config.yml", "--users", "users.yml"],
        &env,
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("users.yml:3:"), "{err}");
    assert!(err.contains("student2"), "{err}");

    // Blueprint mistakes too, with deploy: the YAML is read before anything else.
    write_files(dir.path(), &sim, 1);
    let bp = dir.path().join("deployment_config.yml");
    let text = std::fs::read_to_string(&bp).unwrap().replace("hq.200", "hq.5000");
    write_file(&bp, &text);
    let (code, _, err) = gantry(
        dir.path(),
        &["pve", "deploy", "--url", "http://127.0.0.1:9", "--token", "x", "--config", "deployment_config.yml", "--users", "users.yml"],
        &[],
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("deployment_config.yml:19:"), "{err}");
    assert_eq!(sim.requests().len(), sent, "no request reached the cluster");

    // Deploying needs a running Gantry, and says so.
    write_files(dir.path(), &sim, 1);
    let (code, _, err) = gantry(
        dir.path(),
        &["pve", "deploy", "--connections", "connections.yml", "--config", "deployment_config.yml", "--users", "users.yml"],
        &env,
    )
    .await;
    assert_eq!(code, 2);
    assert!(err.contains("needs a running Gantry"), "{err}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_and_cleanup_through_a_running_gantry() {
    let sim = sim().await;
    let before = sim.snapshot();
    let t = TestApp::spawn_on(FreshDb::new(Backend::Sqlite).await, |c| {
        c.pve.poll_ms = 20;
        c.pve.retry_scale = 0.05;
    })
    .await;
    let admin = t.admin().await;
    let r = admin
        .post(
            "/api/v1/pve/clusters",
            json!({"name": "lab", "endpoints": sim.urls(), "token_id": "root@pam!gantry", "secret": DEMO_TOKEN_SECRET, "fingerprint": sim.fingerprint()}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = admin.post("/api/v1/tokens", json!({"name": "cli", "role": "operator"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let token = r.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();

    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), &sim, 2);
    let env = [("GANTRY_URL", t.base.as_str()), ("GANTRY_TOKEN", token.as_str())];

    // The cluster is the only one, so --cluster may be left out; --json keeps stdout machine-readable.
    let (code, out, err) = gantry(dir.path(), &["pve", "clusters", "test", "--json"], &env).await;
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()[0]["version"], "9.1.3");

    let (code, out, err) = gantry(
        dir.path(),
        &["pve", "deploy", "--cluster", "lab", "--config", "deployment_config.yml", "--users", "users.yml", "--poll-ms", "100"],
        &env,
    )
    .await;
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    // A line per VM as it finished, then the table: every VM ready.
    for user in ["student1", "student2"] {
        for key in ["router", "client", "server"] {
            let name = format!("{user}-{key}");
            let rows: Vec<&str> = out.lines().filter(|l| l.split_whitespace().any(|w| w == name)).collect();
            assert!(rows.len() >= 2, "a progress line and a table row for {name}:\n{out}");
            assert!(rows.iter().all(|l| l.split_whitespace().any(|w| w == "ready")), "{name} is ready:\n{out}");
        }
    }
    assert!(out.contains("USER") && out.contains("VMID") && out.contains("STATUS"), "{out}");
    assert!(out.contains(": done (6 of 6 VMs ready)"), "{out}");
    assert!(err.contains("6/6 VMs finished"), "plain progress lines on stderr:\n{err}");

    let list = admin.json("/api/v1/pve/deployments").await;
    let id = list[0]["id"].as_i64().unwrap();
    assert_eq!(list[0]["status"], "done");
    let (code, out, err) = gantry(dir.path(), &["pve", "deployments"], &env).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines().any(|l| l.starts_with(&id.to_string()) && l.contains("cli-lab") && l.contains("lab") && l.contains("done")),
        "{out}"
    );

    // Cleanup reads guest states from /cluster/resources, which lags like pvestatd: let it
    // see the routers that were just started (reported to the pve module's owner as a race).
    sim.refresh_metrics();
    let (code, out, err) = gantry(dir.path(), &["pve", "cleanup", "--deployment", &id.to_string(), "--poll-ms", "100"], &env).await;
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains(&format!("deployment {id}: cleaned")), "{out}");
    let d = admin.json(&format!("/api/v1/pve/deployments/{id}")).await;
    assert_eq!(d["status"], "cleaned", "{d}");
    assert_eq!(json!(sim.snapshot().vms), json!(before.vms), "the cluster's guests are as before");

    // A bad token is refused by Gantry, and the message says so.
    let (code, _, err) =
        gantry(dir.path(), &["pve", "deployments"], &[("GANTRY_URL", t.base.as_str()), ("GANTRY_TOKEN", "gty_wrong")]).await;
    assert_eq!(code, 1);
    assert!(err.contains("401"), "{err}");
    t.stop().await;
    sim.shutdown().await;
}
