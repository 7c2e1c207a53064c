//! The servers inventory through the API: validation, write-only credentials, concurrency.
//! (Checks against real hosts are in `fleet.rs`.)

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, expect_problem, log_text};
use gantry_ssh::SshKey;
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

backend_tests!(servers_are_validated_and_keys_stay_secret, generated_keys_come_with_an_authorize_command);

fn pasted_key() -> (String, String) {
    let k = SshKey::generate("test@gantry").unwrap();
    (k.to_openssh().unwrap().expose_secret().to_string(), k.fingerprint())
}

async fn servers_are_validated_and_keys_stay_secret(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let op = t.user("ops", "operator").await;
    let (pem, fp) = pasted_key();

    let r = op
        .post(
            "/api/v1/servers",
            json!({"name": "Proxy-1", "address": "198.51.100.10", "ssh_user": "root",
            "labels": {"env": "prod"}, "parameters": {"nginx_conf_dir": "/etc/nginx"}, "credentials": {"private_key": pem}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["etag"], "\"1\"");
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["name"], "proxy-1");
    assert_eq!(s["port"], 22);
    assert_eq!(s["privilege"], "root");
    assert_eq!(s["status"], "unknown");
    assert_eq!(s["credentials"]["type"], "ssh-ed25519");
    assert_eq!(s["credentials"]["fingerprint"], fp.as_str());
    assert!(s["authorize_command"].is_null(), "only generated keys get an authorize command");
    let id = s["id"].as_i64().unwrap();

    // The private key is write-only: not in any response, audit record or log line.
    let body_line = pem.lines().nth(1).unwrap().to_string();
    let one = op.json(&format!("/api/v1/servers/{id}")).await.to_string();
    let list = op.json("/api/v1/servers").await.to_string();
    let admin = t.admin().await;
    let audit = admin.json("/api/v1/audit?entity_type=server").await.to_string();
    for (what, text) in [("GET", &one), ("list", &list), ("audit", &audit), ("log", &log_text())] {
        assert!(!text.contains(&body_line) && !text.contains("PRIVATE KEY"), "private key material in {what}");
    }
    assert!(audit.contains(&fp), "the audit record names the key by fingerprint");

    // Validation: each bad field is named, nothing is stored.
    let r = op
        .post("/api/v1/servers", json!({"name": "bad name;", "address": "x;reboot", "port": 70000, "ssh_user": "Root$",
            "labels": {"Bad Key": "v"}, "parameters": {"rm_rf": true, "nginx_conf_dir": "../etc"}, "credentials": {"private_key": "not a key"}}))
        .await;
    let body = expect_problem(r, 422, "validation_failed").await;
    let fields: Vec<String> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap().to_string()).collect();
    for f in [
        "name",
        "address",
        "port",
        "ssh_user",
        "labels.Bad Key",
        "parameters.rm_rf",
        "parameters.nginx_conf_dir",
        "credentials.private_key",
    ] {
        assert!(fields.iter().any(|x| x == f), "{f} not reported in {fields:?}");
    }
    let r = op
        .post(
            "/api/v1/servers",
            json!({"name": "x", "address": "10.0.0.1", "ssh_user": "deploy", "privilege": "root", "credentials": {"generate": true}}),
        )
        .await;
    let body = expect_problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "privilege");
    let r = op.post("/api/v1/servers", json!({"name": "x", "address": "10.0.0.1"})).await;
    let body = expect_problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "credentials");
    let (pem2, _) = pasted_key();
    let dup = op.post("/api/v1/servers", json!({"name": "PROXY-1", "address": "10.0.0.2", "credentials": {"private_key": pem2}})).await;
    let body = expect_problem(dup, 409, "conflict").await;
    assert_eq!(body["errors"][0]["field"], "name");
    assert_eq!(op.json("/api/v1/servers").await["items"].as_array().unwrap().len(), 1);

    // Viewers read, cannot change.
    let viewer = t.user("vic", "viewer").await;
    assert_eq!(viewer.get(&format!("/api/v1/servers/{id}")).await.status(), StatusCode::OK);
    expect_problem(viewer.post("/api/v1/servers", json!({})).await, 403, "forbidden").await;

    // Updates use If-Match; a stale version is refused.
    let ok = op
        .request(Method::PATCH, &format!("/api/v1/servers/{id}"))
        .header("If-Match", "\"1\"")
        .json(&json!({"description": "edge proxy", "port": 2222}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let stale = op
        .request(Method::PATCH, &format!("/api/v1/servers/{id}"))
        .header("If-Match", "\"1\"")
        .json(&json!({"description": "lost"}))
        .send()
        .await
        .unwrap();
    expect_problem(stale, 412, "stale").await;
    let now = op.json(&format!("/api/v1/servers/{id}")).await;
    assert_eq!(now["description"], "edge proxy");
    assert_eq!(now["port"], 2222);

    // Filters.
    assert_eq!(op.json("/api/v1/servers?label=env=prod").await["items"].as_array().unwrap().len(), 1);
    assert_eq!(op.json("/api/v1/servers?label=env=dev").await["items"].as_array().unwrap().len(), 0);
    assert_eq!(op.json("/api/v1/servers?status=unknown&q=proxy").await["items"].as_array().unwrap().len(), 1);

    // Host keys: only the pending key can be accepted, only by admins.
    expect_problem(op.post(&format!("/api/v1/servers/{id}/host-key/accept"), json!({"fingerprint": fp})).await, 403, "forbidden").await;
    let r = admin.post(&format!("/api/v1/servers/{id}/host-key/accept"), json!({"fingerprint": fp})).await;
    let body = expect_problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "fingerprint");

    // Delete.
    let r = op.delete(&format!("/api/v1/servers/{id}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["detached"].as_array().unwrap().len(), 0);
    expect_problem(op.get(&format!("/api/v1/servers/{id}")).await, 404, "not_found").await;
    t.stop().await;
}

async fn generated_keys_come_with_an_authorize_command(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let op = t.user("ops", "operator").await;
    let r = op
        .post(
            "/api/v1/servers",
            json!({"name": "gen", "address": "proxy.example.net", "ssh_user": "deploy", "credentials": {"generate": true}}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let s: Value = r.json().await.unwrap();
    assert_eq!(s["privilege"], "sudo", "non-root users default to sudo");
    assert_eq!(s["credentials"]["generated"], true);
    let public = s["credentials"]["public_key"].as_str().unwrap();
    assert!(public.starts_with("ssh-ed25519 AAAA"));
    let cmd = s["authorize_command"].as_str().unwrap();
    assert!(cmd.contains(public) && cmd.contains("authorized_keys"));
    // Rotating the key changes the fingerprint.
    let id = s["id"].as_i64().unwrap();
    let r = op.patch(&format!("/api/v1/servers/{id}"), json!({"credentials": {"generate": true}})).await;
    let s2: Value = r.json().await.unwrap();
    assert_ne!(s2["credentials"]["fingerprint"], s["credentials"]["fingerprint"]);
    t.stop().await;
}

/// Makes a key with OpenSSH's own ssh-keygen: `args` e.g. ["-t", "rsa", "-m", "PEM"].
fn keygen(dir: &std::path::Path, name: &str, args: &[&str], passphrase: &str) -> String {
    let path = dir.join(name);
    let ok = std::process::Command::new("ssh-keygen")
        .args(args)
        .args(["-q", "-N", passphrase, "-C", "test", "-f"])
        .arg(&path)
        .status()
        .expect("ssh-keygen (openssh-client) is installed by scripts/test");
    assert!(ok.success());
    std::fs::read_to_string(path).unwrap()
}

#[tokio::test]
async fn pasted_keys_in_every_supported_format_and_passphrases() {
    let t = TestApp::spawn(Backend::Sqlite).await;
    let op = t.user("ops", "operator").await;
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("ed25519", keygen(dir.path(), "ed", &["-t", "ed25519"], ""), "ssh-ed25519"),
        ("ecdsa", keygen(dir.path(), "ec", &["-t", "ecdsa", "-b", "256"], ""), "ecdsa-sha2-nistp256"),
        ("rsa-pem", keygen(dir.path(), "rsa", &["-t", "rsa", "-b", "2048", "-m", "PEM"], ""), "ssh-rsa"),
    ];
    for (name, key, kind) in &cases {
        let r = op.post("/api/v1/servers", json!({"name": name, "address": "192.0.2.1", "credentials": {"private_key": key}})).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{name}");
        let s: Value = r.json().await.unwrap();
        assert_eq!(s["credentials"]["type"], *kind, "{name}");
    }
    let enc = keygen(dir.path(), "enc", &["-t", "ed25519"], "correct horse");
    let missing = op.post("/api/v1/servers", json!({"name": "enc", "address": "192.0.2.1", "credentials": {"private_key": enc}})).await;
    let body = expect_problem(missing, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "credentials.passphrase");
    let wrong = op
        .post("/api/v1/servers", json!({"name": "enc", "address": "192.0.2.1", "credentials": {"private_key": enc, "passphrase": "wrong"}}))
        .await;
    let body = expect_problem(wrong, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "credentials.passphrase");
    assert!(!body.to_string().contains("wrong"), "the passphrase is not echoed");
    let right = op
        .post(
            "/api/v1/servers",
            json!({"name": "enc", "address": "192.0.2.1", "credentials": {"private_key": enc, "passphrase": "correct horse"}}),
        )
        .await;
    assert_eq!(right.status(), StatusCode::CREATED);
    assert!(!log_text().contains("correct horse"), "passphrase in the logs");
    t.stop().await;
}
