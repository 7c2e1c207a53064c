//! Every mutation leaves an audit record; the log filters and pages.

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, log_text};
use reqwest::StatusCode;
use serde_json::{Value, json};

backend_tests!(mutations_are_audited_and_filterable);

async fn mutations_are_audited_and_filterable(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let admin = t.admin().await;
    // A clear second boundary after the bootstrap records (MySQL stores whole seconds).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let before = chrono::DateTime::from_timestamp((chrono::Utc::now() - chrono::Duration::milliseconds(500)).timestamp(), 0).unwrap();
    let r = admin
        .request(reqwest::Method::POST, "/api/v1/users")
        .header("X-Request-Id", "req-audit-1")
        .json(&json!({"username": "alice", "role": "viewer", "password": "alice-secret-pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["x-request-id"], "req-audit-1", "request id echoed");
    let alice: Value = r.json().await.unwrap();
    let id = alice["id"].as_i64().unwrap();
    assert_eq!(
        admin.patch(&format!("/api/v1/users/{id}"), json!({"role": "operator", "password": "alice-second-pw"})).await.status(),
        StatusCode::OK
    );

    let page = admin.json("/api/v1/audit?entity_type=user").await;
    let items = page["items"].as_array().unwrap();
    let create = items.iter().find(|i| i["action"] == "user.create").expect("user.create audited");
    assert_eq!(create["actor_name"], "admin");
    assert_eq!(create["actor_role"], "admin");
    assert_eq!(create["entity_id"], id.to_string());
    assert_eq!(create["request_id"], "req-audit-1");
    assert_eq!(create["client_ip"], "127.0.0.1");
    assert_eq!(create["summary"]["after"]["username"], "alice");
    let update = items.iter().find(|i| i["action"] == "user.update").expect("user.update audited");
    assert_eq!(update["summary"]["before"]["role"], "viewer");
    assert_eq!(update["summary"]["after"]["role"], "operator");
    assert_eq!(update["summary"]["after"]["login_reset"], true);
    let text = page.to_string();
    assert!(!text.contains("alice-secret-pw") && !text.contains("alice-second-pw"), "password in audit");
    assert!(!log_text().contains("alice-secret-pw"), "password in logs");

    // Filters: actor, entity, action (exact and prefix), time range.
    let by_id = admin.json(&format!("/api/v1/audit?entity_type=user&entity_id={id}")).await;
    assert_eq!(by_id["items"].as_array().unwrap().len(), 2);
    let prefix = admin.json("/api/v1/audit?action=user.").await;
    let actors: Vec<&str> = prefix["items"].as_array().unwrap().iter().map(|i| i["actor_name"].as_str().unwrap()).collect();
    assert_eq!(actors, vec!["admin", "admin", "bootstrap"], "the first-start admin creation is audited too");
    let logins = admin.json("/api/v1/audit?action=auth.login&actor=admin").await;
    assert!(!logins["items"].as_array().unwrap().is_empty());
    let since = urlencode(&before.to_rfc3339());
    let recent = admin.json(&format!("/api/v1/audit?since={since}&action=user.create")).await;
    assert_eq!(recent["items"].as_array().unwrap().len(), 1);
    let until = urlencode(&before.to_rfc3339());
    let old = admin.json(&format!("/api/v1/audit?until={until}&action=user.create")).await;
    assert_eq!(old["items"].as_array().unwrap().len(), 1, "only the bootstrap admin was created before");
    assert_eq!(old["items"][0]["actor_name"], "bootstrap");

    // Pagination walks every record exactly once, newest first.
    let all = admin.json("/api/v1/audit?limit=500").await["items"].as_array().unwrap().len();
    let mut ids = Vec::new();
    let mut path = "/api/v1/audit?limit=2".to_string();
    loop {
        let p = admin.json(&path).await;
        ids.extend(p["items"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()));
        match p["next"].as_str() {
            Some(c) => path = format!("/api/v1/audit?limit=2&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(ids.len(), all);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first, no repeats");
    t.stop().await;
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}
