//! Login, logout, sessions, CSRF, throttling, password changes.

use crate::backend_tests;
use crate::helpers::{ADMIN_PASSWORD, Backend, TestApp, expect_problem};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(login_logout_and_csrf, failed_logins_are_throttled_without_revealing_users, password_change_ends_other_sessions);

async fn login_logout_and_csrf(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let mut s = t.client();

    // Wrong password and unknown user look exactly the same.
    let wrong = expect_problem(s.try_login("admin", "not-the-password").await, 401, "invalid_credentials").await;
    let unknown = expect_problem(s.try_login("nobody", "not-the-password").await, 401, "invalid_credentials").await;
    assert_eq!(wrong["detail"], unknown["detail"]);

    let r = s.try_login("admin", ADMIN_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(cookie.starts_with("gantry_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP without a https public URL must not set Secure: {cookie}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["user"]["username"], "admin");
    assert!(body["user"].get("password_hash").is_none());
    let csrf = body["csrf_token"].as_str().unwrap().to_string();

    let me = s.json("/api/v1/auth/me").await;
    assert_eq!(me["username"], "admin");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["auth"], "session");
    assert_eq!(me["csrf_token"], csrf.as_str());

    // A cookie-authenticated mutation without (or with a wrong) CSRF header is refused.
    let no_csrf = s.http.post(format!("{}/api/v1/tokens", t.base)).json(&json!({"name": "x"})).send().await.unwrap();
    expect_problem(no_csrf, 403, "csrf_failed").await;
    let bad_csrf =
        s.http.post(format!("{}/api/v1/tokens", t.base)).header("X-CSRF-Token", "nope").json(&json!({"name": "x"})).send().await.unwrap();
    expect_problem(bad_csrf, 403, "csrf_failed").await;
    s.csrf = Some(csrf.clone());
    assert_eq!(s.post("/api/v1/tokens", json!({"name": "x"})).await.status(), StatusCode::CREATED);

    // Logout needs CSRF too, then clears the cookie and the session.
    let out = s.http.post(format!("{}/api/v1/auth/logout", t.base)).send().await.unwrap();
    expect_problem(out, 403, "csrf_failed").await;
    let out = s.request(Method::POST, "/api/v1/auth/logout").send().await.unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let cleared = out.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    expect_problem(s.get("/api/v1/auth/me").await, 401, "unauthenticated").await;
    t.stop().await;
}

async fn failed_logins_are_throttled_without_revealing_users(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let mut s = t.client();
    for _ in 0..5 {
        expect_problem(s.try_login("ghost", "wrong-password").await, 401, "invalid_credentials").await;
    }
    // The sixth attempt for the same (non-existent) name is slowed down.
    let r = s.try_login("ghost", "wrong-password").await;
    let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    expect_problem(r, 429, "too_many_attempts").await;
    assert!(retry.parse::<u64>().is_ok_and(|s| s >= 1), "Retry-After: {retry}");
    // The same client address is throttled for other names too (per-IP limit)...
    expect_problem(s.try_login("admin", ADMIN_PASSWORD).await, 429, "too_many_attempts").await;
    // ...and the failures are audited.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut admin = t.client();
    admin.login("admin", ADMIN_PASSWORD).await;
    let audit = admin.json("/api/v1/audit?action=auth.login_failed").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 5);
    assert_eq!(audit["items"][0]["summary"]["username"], "ghost");
    t.stop().await;
}

async fn password_change_ends_other_sessions(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let op = t.user("olga", "operator").await;
    let mut other = t.client();
    other.login("olga", "password-of-user").await;

    let wrong = op.post("/api/v1/auth/password", json!({"current_password": "nope-nope-nope", "new_password": "a-new-password"})).await;
    let body = expect_problem(wrong, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "current_password");
    let short = op.post("/api/v1/auth/password", json!({"current_password": "password-of-user", "new_password": "short"})).await;
    let body = expect_problem(short, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "new_password");

    let ok = op.post("/api/v1/auth/password", json!({"current_password": "password-of-user", "new_password": "a-new-password"})).await;
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    // This session survives, the other one is gone, the old password no longer works.
    assert_eq!(op.get("/api/v1/auth/me").await.status(), StatusCode::OK);
    expect_problem(other.get("/api/v1/auth/me").await, 401, "unauthenticated").await;
    let mut again = t.client();
    expect_problem(again.try_login("olga", "password-of-user").await, 401, "invalid_credentials").await;
    again.login("olga", "a-new-password").await;
    t.stop().await;
}
