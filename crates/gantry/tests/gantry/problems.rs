//! Client mistakes get problem+json with the right status, never a 500.

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, expect_problem};
use serde_json::json;

backend_tests!(client_errors_have_problem_shapes);

async fn client_errors_have_problem_shapes(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let admin = t.admin().await;
    let url = format!("{}/api/v1/users", t.base);
    let csrf = admin.csrf.clone().unwrap();

    let malformed = admin
        .http
        .post(&url)
        .header("X-CSRF-Token", &csrf)
        .header("content-type", "application/json")
        .body("{\"username\":")
        .send()
        .await
        .unwrap();
    expect_problem(malformed, 400, "malformed_json").await;

    let unknown_field =
        admin.post("/api/v1/users", json!({"username": "x1", "role": "viewer", "password": "password-123456", "is_root": true})).await;
    let body = expect_problem(unknown_field, 422, "invalid_body").await;
    assert!(body["detail"].as_str().unwrap().contains("is_root"));

    let wrong_type = admin.post("/api/v1/users", json!({"username": "x1", "role": "superuser", "password": "password-123456"})).await;
    expect_problem(wrong_type, 422, "invalid_body").await;

    let too_large =
        admin.http.post(&url).header("X-CSRF-Token", &csrf).header("content-type", "application/json").body(vec![b' '; 2 * 1024 * 1024]);
    // The server answers 413 from Content-Length and closes without reading the
    // body, so the client may hit a broken pipe while still writing it: retry.
    let mut too_large_res = None;
    for _ in 0..5 {
        if let Ok(r) = too_large.try_clone().unwrap().send().await {
            too_large_res = Some(r);
            break;
        }
    }
    expect_problem(too_large_res.expect("the 413 answer arrives within 5 tries"), 413, "payload_too_large").await;

    let form =
        admin.http.post(&url).header("X-CSRF-Token", &csrf).header("content-type", "text/plain").body("username=x").send().await.unwrap();
    expect_problem(form, 415, "unsupported_media_type").await;

    expect_problem(t.client().get("/api/v1/users").await, 401, "unauthenticated").await;
    let viewer = t.user("vince", "viewer").await;
    expect_problem(viewer.get("/api/v1/users").await, 403, "forbidden").await;
    expect_problem(admin.get("/api/v1/users/999999").await, 404, "not_found").await;
    expect_problem(admin.get("/api/v1/no-such-thing").await, 404, "not_found").await;
    expect_problem(admin.delete("/api/v1/users").await, 405, "method_not_allowed").await;
    expect_problem(admin.get("/api/v1/users/abc").await, 400, "bad_path").await;

    assert_eq!(
        admin.post("/api/v1/users", json!({"username": "dup", "role": "viewer", "password": "password-123456"})).await.status(),
        201
    );
    let dup = admin.post("/api/v1/users", json!({"username": "DUP", "role": "viewer", "password": "password-123456"})).await;
    let body = expect_problem(dup, 409, "conflict").await;
    assert_eq!(body["errors"][0]["field"], "username");

    let invalid = admin.post("/api/v1/users", json!({"username": "bad name;", "role": "viewer", "password": "short"})).await;
    let body = expect_problem(invalid, 422, "validation_failed").await;
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["username", "password"]);
    t.stop().await;
}
