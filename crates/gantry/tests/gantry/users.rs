//! User administration, roles on every route class, optimistic concurrency.

use crate::backend_tests;
use crate::helpers::{Backend, Session, TestApp, expect_problem};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(
    if_match_prevents_lost_updates,
    roles_are_enforced_on_every_route_class,
    last_admin_is_protected,
    users_list_filters_and_pages
);

async fn if_match_prevents_lost_updates(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let admin = t.admin().await;
    let r = admin
        .post("/api/v1/users", json!({"username": "Dana", "display_name": "Dana D", "role": "viewer", "password": "password-of-dana"}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["etag"], "\"1\"");
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let user: Value = r.json().await.unwrap();
    assert_eq!(user["username"], "dana", "usernames are normalized");

    let r = admin.get(&location).await;
    assert_eq!(r.headers()["etag"], "\"1\"");
    let first =
        admin.request(Method::PATCH, &location).header("If-Match", "\"1\"").json(&json!({"role": "operator"})).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["etag"], "\"2\"");
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["role"], "operator");
    assert_eq!(body["version"], 2);

    // A second writer who read version 1 is told to reload instead of overwriting.
    let stale = admin
        .request(Method::PATCH, &location)
        .header("If-Match", "\"1\"")
        .json(&json!({"display_name": "Someone else"}))
        .send()
        .await
        .unwrap();
    expect_problem(stale, 412, "stale").await;
    let now = admin.json(&location).await;
    assert_eq!(now["display_name"], "Dana D");
    let bad = admin.request(Method::PATCH, &location).header("If-Match", "banana").json(&json!({})).send().await.unwrap();
    expect_problem(bad, 400, "bad_if_match").await;
    t.stop().await;
}

async fn check(s: &Session, method: Method, path: &str, body: Option<Value>, expected: u16) {
    let mut rb = s.request(method.clone(), path);
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    assert_eq!(r.status().as_u16(), expected, "{method} {path}");
}

async fn roles_are_enforced_on_every_route_class(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let viewer = t.user("vera", "viewer").await;
    let operator = t.user("oleg", "operator").await;
    let admin = t.admin().await;
    let anon = t.client();
    let new_user = || {
        Some(
            json!({"username": format!("u{}", gantry_core::tokens::random_token(4).to_lowercase().replace(['-', '_'], "x")), "role": "viewer", "password": "password-123456"}),
        )
    };

    // (method, path, body, anonymous, viewer, operator, admin)
    let cases: Vec<(Method, &str, Option<Value>, [u16; 4])> = vec![
        (Method::GET, "/api/v1/auth/me", None, [401, 200, 200, 200]),
        (Method::GET, "/api/v1/jobs", None, [401, 200, 200, 200]),
        (Method::GET, "/api/v1/system/info", None, [401, 200, 200, 200]),
        (Method::POST, "/api/v1/system/selfcheck", Some(json!({})), [401, 403, 202, 202]),
        (Method::GET, "/api/v1/users", None, [401, 403, 403, 200]),
        (Method::GET, "/api/v1/audit", None, [401, 403, 403, 200]),
        (Method::GET, "/api/v1/tokens?all=true", None, [401, 403, 403, 200]),
        (Method::POST, "/api/v1/users", new_user(), [401, 403, 403, 201]),
        (Method::POST, "/api/v1/tokens", Some(json!({"name": "mine"})), [401, 201, 201, 201]),
    ];
    for (m, path, body, [a, v, o, ad]) in cases {
        check(&anon, m.clone(), path, body.clone(), a).await;
        check(&viewer, m.clone(), path, body.clone(), v).await;
        check(&operator, m.clone(), path, body.clone(), o).await;
        let body = if path == "/api/v1/users" && m == Method::POST { new_user() } else { body };
        check(&admin, m, path, body, ad).await;
    }
    // Health and metrics are open (they reveal nothing private).
    check(&anon, Method::GET, "/livez", None, 200).await;
    check(&anon, Method::GET, "/readyz", None, 200).await;
    check(&anon, Method::GET, "/metrics", None, 200).await;
    t.stop().await;
}

async fn last_admin_is_protected(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let admin = t.admin().await;
    let me = admin.json("/api/v1/auth/me").await;
    let id = me["id"].as_i64().unwrap();
    expect_problem(admin.patch(&format!("/api/v1/users/{id}"), json!({"role": "viewer"})).await, 409, "invalid_state").await;
    expect_problem(admin.patch(&format!("/api/v1/users/{id}"), json!({"disabled": true})).await, 409, "invalid_state").await;
    // With a second admin, demotion works.
    let r = admin.post("/api/v1/users", json!({"username": "second", "role": "admin", "password": "password-second"})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(admin.patch(&format!("/api/v1/users/{id}"), json!({"role": "operator"})).await.status(), StatusCode::OK);
    // The demoted session acts with the new role right away.
    expect_problem(admin.get("/api/v1/users").await, 403, "forbidden").await;
    t.stop().await;
}

async fn users_list_filters_and_pages(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let admin = t.admin().await;
    for i in 0..5 {
        let role = if i % 2 == 0 { "viewer" } else { "operator" };
        let r = admin.post("/api/v1/users", json!({"username": format!("member{i}"), "display_name": format!("Team Member {i}"), "role": role, "password": "password-123456"})).await;
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/users?limit=2&cursor={c}"),
            None => "/api/v1/users?limit=2".to_string(),
        };
        let page = admin.json(&path).await;
        for u in page["items"].as_array().unwrap() {
            seen.push(u["username"].as_str().unwrap().to_string());
        }
        match page["next"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, vec!["admin", "member0", "member1", "member2", "member3", "member4"]);
    // Sorted keyset paging: descending by username, two per page, no gaps or repeats.
    let mut sorted = Vec::new();
    let mut path = "/api/v1/users?limit=2&sort=-username".to_string();
    loop {
        let page = admin.json(&path).await;
        sorted.extend(page["items"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_string()));
        match page["next"].as_str() {
            Some(c) => path = format!("/api/v1/users?limit=2&sort=-username&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(sorted, vec!["member4", "member3", "member2", "member1", "member0", "admin"]);
    // By role (ties broken by id), across pages.
    let mut roles = Vec::new();
    let mut path = "/api/v1/users?limit=4&sort=role".to_string();
    loop {
        let page = admin.json(&path).await;
        roles.extend(page["items"].as_array().unwrap().iter().map(|u| u["role"].as_str().unwrap().to_string()));
        match page["next"].as_str() {
            Some(c) => path = format!("/api/v1/users?limit=4&sort=role&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(roles, vec!["admin", "operator", "operator", "viewer", "viewer", "viewer"]);
    let bad = crate::helpers::expect_problem(admin.get("/api/v1/users?sort=password_hash").await, 422, "validation_failed").await;
    assert_eq!(bad["errors"][0]["field"], "sort");
    let ops = admin.json("/api/v1/users?role=operator").await;
    assert_eq!(ops["items"].as_array().unwrap().len(), 2);
    let q = admin.json("/api/v1/users?q=TEAM%20MEMBER%203").await;
    assert_eq!(q["items"][0]["username"], "member3");
    expect_problem(admin.get("/api/v1/users?limit=0").await, 422, "validation_failed").await;
    expect_problem(admin.get("/api/v1/users?cursor=garbage!").await, 422, "validation_failed").await;
    expect_problem(admin.get("/api/v1/users?role=root").await, 400, "bad_query").await;
    t.stop().await;
}
