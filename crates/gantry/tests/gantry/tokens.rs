//! API tokens: created once, stored as a hash, role-capped, revocable.

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, expect_problem, log_text};
use reqwest::StatusCode;
use serde_json::{Value, json};

backend_tests!(token_lifecycle, token_role_never_exceeds_owner);

async fn token_lifecycle(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let admin = t.admin().await;
    let r = admin.post("/api/v1/tokens", json!({"name": "ci deploy", "role": "operator", "expires_in_days": 30})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("gty_"));
    assert_eq!(created["role"], "operator");
    let id = created["id"].as_i64().unwrap();

    // The list never shows the token again.
    let list = admin.json("/api/v1/tokens").await;
    let text = list.to_string();
    assert!(!text.contains(&token));
    assert_eq!(list["items"][0]["prefix"], token[..10]);

    // Bearer auth acts with the token's role, needs no CSRF header.
    let bot = admin.with_token(&token);
    let me = bot.json("/api/v1/auth/me").await;
    assert_eq!(me["role"], "operator");
    assert_eq!(me["auth"], "token");
    assert!(me["csrf_token"].is_null());
    assert_eq!(bot.post("/api/v1/system/selfcheck", json!({})).await.status(), StatusCode::ACCEPTED);
    expect_problem(bot.get("/api/v1/users").await, 403, "forbidden").await;

    // Revocation takes effect at once.
    let r = admin.delete(&format!("/api/v1/tokens/{id}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let revoked: Value = r.json().await.unwrap();
    assert!(revoked["revoked_at"].is_string());
    expect_problem(bot.get("/api/v1/auth/me").await, 401, "unauthenticated").await;
    expect_problem(admin.with_token("gty_not-a-real-token").get("/api/v1/auth/me").await, 401, "unauthenticated").await;

    // The token never reached the audit log or the logs.
    let audit = admin.json("/api/v1/audit?entity_type=token").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 2, "create and revoke audited");
    assert!(!audit.to_string().contains(&token));
    assert!(!log_text().contains(&token), "token appeared in the logs");
    t.stop().await;
}

async fn token_role_never_exceeds_owner(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let viewer = t.user("vic", "viewer").await;
    let r = viewer.post("/api/v1/tokens", json!({"name": "too much", "role": "admin"})).await;
    let body = expect_problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "role");
    let r = viewer.post("/api/v1/tokens", json!({"name": "past", "expires_at": "2001-01-01T00:00:00Z"})).await;
    let body = expect_problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "expires_at");

    // A token made while the owner was an operator loses power when the owner is demoted.
    let op = t.user("otto", "operator").await;
    let created: Value = op.post("/api/v1/tokens", json!({"name": "t"})).await.json().await.unwrap();
    let token = created["token"].as_str().unwrap();
    let admin = t.admin().await;
    let otto = admin.json("/api/v1/users?q=otto").await["items"][0]["id"].as_i64().unwrap();
    assert_eq!(admin.patch(&format!("/api/v1/users/{otto}"), json!({"role": "viewer"})).await.status(), StatusCode::OK);
    let me = op.with_token(token).json("/api/v1/auth/me").await;
    assert_eq!(me["role"], "viewer");
    // Disabling the owner stops the token.
    assert_eq!(admin.patch(&format!("/api/v1/users/{otto}"), json!({"disabled": true})).await.status(), StatusCode::OK);
    expect_problem(op.with_token(token).get("/api/v1/auth/me").await, 401, "unauthenticated").await;
    expect_problem(op.get("/api/v1/auth/me").await, 401, "unauthenticated").await;
    t.stop().await;
}
