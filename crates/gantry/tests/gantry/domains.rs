//! Domains and domain groups through the API: validation as a security
//! boundary, uniqueness per server, rebinding, deletion choices, import and
//! export, bulk work, and the outbox events the proxy module will consume.

use crate::backend_tests;
use crate::helpers::{Backend, Session, TestApp, expect_problem};
use gantry_core::ids::EventId;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

backend_tests!(
    domains_validate_hostile_input,
    names_are_unique_per_server_and_groups_rebind,
    groups_delete_with_an_explicit_choice,
    import_export_and_bulk
);

async fn server(op: &Session, name: &str) -> i64 {
    let r = op.post("/api/v1/servers", json!({"name": name, "address": "192.0.2.10", "credentials": {"generate": true}})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

async fn group(op: &Session, name: &str, server_id: Option<i64>) -> i64 {
    let r = op.post("/api/v1/domain-groups", json!({"name": name, "server_id": server_id})).await;
    assert_eq!(r.status(), StatusCode::CREATED, "group {name}");
    r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

async fn domain(op: &Session, group_id: i64, name: &str, extra: Value) -> reqwest::Response {
    let mut body = json!({"group_id": group_id, "name": name, "target_ip": "10.0.0.5"});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        body[k] = v;
    }
    op.post("/api/v1/domains", body).await
}

async fn events(t: &TestApp, kind: &str) -> Vec<Value> {
    t.app()
        .platform
        .repos
        .events
        .after(EventId(0), 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.payload)
        .collect()
}

async fn domains_validate_hostile_input(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let op = t.user("ops", "operator").await;
    let g = group(&op, "web", None).await;

    let r = domain(
        &op,
        g,
        "Bücher.Example",
        json!({"target_port": 8080, "aliases": ["www.bücher.example"],
        "options": {"websocket": true, "response_headers": [{"name": "X-Frame-Options", "value": "DENY"}], "allow": ["10.0.0.0/8"]},
        "routes": [{"path": "/api/", "target_ip": "10.0.0.6", "target_port": 9000}, {"path": "/api/v2/", "target_ip": "10.0.0.7"}]}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["name"], "xn--bcher-kva.example");
    assert_eq!(d["name_unicode"], "bücher.example");
    assert_eq!(d["aliases"][0], "www.xn--bcher-kva.example");
    assert_eq!(d["routes"][0]["path"], "/api/v2/", "longest prefix first");
    assert_eq!(d["options"]["hsts_max_age"], 31536000);
    assert!(d["server"].is_null(), "an unbound group is served nowhere yet");

    // At least 50 hostile strings across names, paths and headers: each is a 422 naming its field, nothing is stored.
    let names = [
        "a;b.com",
        "a{b}.com",
        "a}.com",
        "\"a\".com",
        "'a'.com",
        "$host.com",
        "a\\b.com",
        "a\nb.com",
        "a\0b.com",
        "a b.com",
        "#a.com",
        "a.com;",
        "a.com; return 200",
        "a.com;include /etc/passwd",
        "`reboot`.com",
        "$(reboot).com",
        "*.*.a.com",
        "a.*.com",
        "-a.com",
        "a..com",
        "a.com.",
        "127.0.0.1",
        "a.123",
        "a/b.com",
        "a:80.com",
    ];
    let paths = ["api", "/a;b", "/a{b", "/$uri", "/a\\b", "/a\nb", "/a b", "/a#b", "/%zz", "/../etc", "/\"x\"", "/'x'", "/a?b"];
    let headers = [
        ("X Y", "v"),
        ("X;", "v"),
        ("$x", "v"),
        ("X-A", "a\"b"),
        ("X-A", "a\\b"),
        ("X-A", "$host"),
        ("X-A", "a\nb"),
        ("X-A", "a{b}"),
        ("X-A", "a\0b"),
        ("Content-Length", "1"),
    ];
    let targets = ["10.0.0.256", "example.com", "0.0.0.0", "224.0.0.1", "ff02::1", "255.255.255.255", "10.0.0.5:80"];
    assert!(names.len() + paths.len() + headers.len() + targets.len() >= 50);
    for n in names {
        let body = expect_problem(domain(&op, g, n, json!({})).await, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "name", "{n:?}");
    }
    for p in paths {
        let body = expect_problem(
            domain(&op, g, "p.example.com", json!({"routes": [{"path": p, "target_ip": "10.0.0.6"}]})).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(body["errors"][0]["field"], "routes[0].path", "{p:?}");
    }
    for (n, v) in headers {
        let body = expect_problem(
            domain(&op, g, "h.example.com", json!({"options": {"response_headers": [{"name": n, "value": v}]}})).await,
            422,
            "validation_failed",
        )
        .await;
        let f = body["errors"][0]["field"].as_str().unwrap();
        assert!(f.starts_with("options.response_headers[0]."), "{n:?}: {v:?} → {f}");
    }
    for ip in targets {
        let body = expect_problem(
            op.post("/api/v1/domains", json!({"group_id": g, "name": "t.example.com", "target_ip": ip})).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(body["errors"][0]["field"], "target_ip", "{ip:?}");
    }
    let body = expect_problem(
        domain(
            &op,
            g,
            "c.example.com",
            json!({"target_port": 0, "aliases": ["c.example.com"], "options": {"allow": ["10.0.0.5/24"], "hsts_max_age": 99999999}}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    for f in ["target_port", "aliases[0]", "options.allow[0]", "options.hsts_max_age"] {
        assert!(fields.contains(&f), "{f} missing in {fields:?}");
    }
    assert!(body.to_string().contains("10.0.0.0/24"), "the CIDR error suggests the network");
    let body =
        expect_problem(op.post("/api/v1/domains", json!({"group_id": g, "name": "x.example.com"})).await, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "target_ip", "the target IP is mandatory");
    let list = op.json("/api/v1/domains?limit=500").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "nothing invalid was stored");

    // Partial updates with If-Match; options merge.
    let id = d["id"].as_i64().unwrap();
    let r = op
        .request(Method::PATCH, &format!("/api/v1/domains/{id}"))
        .header("If-Match", "\"1\"")
        .json(&json!({"options": {"hsts": true}, "enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let d2: Value = r.json().await.unwrap();
    assert_eq!(d2["options"]["websocket"], true, "untouched options keep their value");
    assert_eq!(d2["options"]["hsts"], true);
    assert_eq!(d2["enabled"], false);
    let stale = op
        .request(Method::PATCH, &format!("/api/v1/domains/{id}"))
        .header("If-Match", "\"1\"")
        .json(&json!({"target_port": 81}))
        .send()
        .await
        .unwrap();
    expect_problem(stale, 412, "stale").await;
    let viewer = t.user("vi", "viewer").await;
    expect_problem(viewer.post("/api/v1/domains", json!({})).await, 403, "forbidden").await;
    assert_eq!(viewer.get(&format!("/api/v1/domains/{id}")).await.status(), StatusCode::OK);
    t.stop().await;
}

async fn names_are_unique_per_server_and_groups_rebind(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let op = t.user("ops", "operator").await;
    let (s1, s2) = (server(&op, "edge-1").await, server(&op, "edge-2").await);
    let (a, b, c) = (group(&op, "a", Some(s1)).await, group(&op, "b", Some(s1)).await, group(&op, "c", Some(s2)).await);
    assert_eq!(domain(&op, a, "shop.example.com", json!({"aliases": ["www.shop.example.com"]})).await.status(), StatusCode::CREATED);

    // Same server, other group: the name and the alias are taken.
    let body = expect_problem(domain(&op, b, "shop.example.com", json!({})).await, 409, "conflict").await;
    assert_eq!(body["errors"][0]["field"], "name");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("shop.example.com") && detail.contains("group a"), "{detail}");
    let body =
        expect_problem(domain(&op, b, "other.example.com", json!({"aliases": ["WWW.shop.example.com"]})).await, 409, "conflict").await;
    assert_eq!(body["errors"][0]["field"], "aliases[0]");
    // Another server may serve the same name.
    assert_eq!(domain(&op, c, "shop.example.com", json!({})).await.status(), StatusCode::CREATED);

    // Moving group c onto edge-1 would serve shop.example.com twice: refused, nothing moves.
    let r = op.patch(&format!("/api/v1/domain-groups/{c}"), json!({"server_id": s1})).await;
    let body = expect_problem(r, 409, "conflict").await;
    assert!(body["detail"].as_str().unwrap().contains("shop.example.com"));
    assert_eq!(op.json(&format!("/api/v1/domain-groups/{c}")).await["server"]["id"], s2);
    // Group b moves to edge-2 fine (it has no clashing names); unbinding works too.
    assert_eq!(domain(&op, b, "blog.example.com", json!({})).await.status(), StatusCode::CREATED);
    let r = op.patch(&format!("/api/v1/domain-groups/{b}"), json!({"server_id": s2})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let moved: Value = r.json().await.unwrap();
    assert_eq!(moved["server"]["name"], "edge-2");
    let blog = op.json("/api/v1/domains?q=blog").await;
    assert_eq!(blog["items"][0]["server"]["name"], "edge-2", "each domain shows where it is served");
    let r = op.patch(&format!("/api/v1/domain-groups/{b}"), json!({"server_id": null})).await;
    assert!(r.json::<Value>().await.unwrap()["server"].is_null());
    let body =
        expect_problem(op.patch(&format!("/api/v1/domain-groups/{b}"), json!({"server_id": 999999})).await, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "server_id");

    // Every change went to the outbox with the affected servers.
    let created = events(&t, "domain.changed").await;
    let shop_a = created.iter().find(|e| e["name"] == "shop.example.com" && e["group_id"] == a).unwrap();
    assert_eq!(shop_a["server_ids"], json!([s1]));
    let rebinds = events(&t, "domain_group.changed").await;
    let rebind = rebinds.iter().find(|e| e["group_id"] == b && e["change"] == "rebound").unwrap();
    assert_eq!(rebind["server_ids"], json!([s1, s2]), "old and new server");
    // Filters across groups.
    assert_eq!(op.json(&format!("/api/v1/domains?server_id={s1}")).await["items"].as_array().unwrap().len(), 1);
    assert_eq!(op.json(&format!("/api/v1/domain-groups?server_id={s1}")).await["items"].as_array().unwrap().len(), 1);
    t.stop().await;
}

async fn groups_delete_with_an_explicit_choice(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let op = t.user("ops", "operator").await;
    let (g1, g2, g3) = (group(&op, "one", None).await, group(&op, "two", None).await, group(&op, "three", None).await);
    for n in ["a.example.com", "b.example.com"] {
        assert_eq!(domain(&op, g1, n, json!({})).await.status(), StatusCode::CREATED);
    }
    assert_eq!(domain(&op, g3, "c.example.com", json!({})).await.status(), StatusCode::CREATED);
    let body = expect_problem(op.delete(&format!("/api/v1/domain-groups/{g1}")).await, 409, "invalid_state").await;
    assert!(body["detail"].as_str().unwrap().contains("2 domains"));
    expect_problem(op.delete(&format!("/api/v1/domain-groups/{g1}?domains=move")).await, 422, "validation_failed").await;
    let r = op.delete(&format!("/api/v1/domain-groups/{g1}?domains=move&move_to={g2}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["domains"], 2);
    assert_eq!(op.json(&format!("/api/v1/domains?group_id={g2}")).await["items"].as_array().unwrap().len(), 2);
    let r = op.delete(&format!("/api/v1/domain-groups/{g3}?domains=delete")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(op.json("/api/v1/domains?q=c.example").await["items"].as_array().unwrap().len(), 0);
    expect_problem(op.get(&format!("/api/v1/domain-groups/{g3}")).await, 404, "not_found").await;
    t.stop().await;
}

async fn import_export_and_bulk(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let op = t.user("ops", "operator").await;
    let s = server(&op, "edge").await;
    let (g, other) = (group(&op, "shop", Some(s)).await, group(&op, "other", Some(s)).await);
    assert_eq!(domain(&op, g, "keep.example.com", json!({})).await.status(), StatusCode::CREATED);
    assert_eq!(domain(&op, other, "taken.example.com", json!({})).await.status(), StatusCode::CREATED);
    let yaml = "# import\n- name: keep.example.com\n  target_ip: 10.0.0.5\n- name: new.example.com\n  target_ip: 10.0.0.6\n  target_port: 8080\n  aliases: [www.new.example.com]\n- name: bad;name.com\n  target_ip: 10.0.0.7\n- name: taken.example.com\n  target_ip: 10.0.0.8\n- name: typo.example.com\n  target_ipp: 10.0.0.9\n";
    let dry: Value = op
        .post(&format!("/api/v1/domain-groups/{g}/import"), json!({"format": "yaml", "content": yaml, "dry_run": true}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((dry["created"].as_u64(), dry["unchanged"].as_u64(), dry["rejected"].as_u64()), (Some(1), Some(1), Some(3)), "{dry}");
    let lines: Vec<(u64, &str)> =
        dry["lines"].as_array().unwrap().iter().map(|l| (l["line"].as_u64().unwrap(), l["action"].as_str().unwrap())).collect();
    assert_eq!(lines, vec![(2, "unchanged"), (4, "create"), (8, "reject"), (10, "reject"), (12, "reject")]);
    assert_eq!(dry["lines"][2]["errors"][0]["field"], "name");
    assert_eq!(dry["lines"][3]["errors"][0]["field"], "name", "taken on this server by another group");
    assert!(dry["lines"][4]["errors"][0]["message"].as_str().unwrap().contains("target_ipp"));
    assert_eq!(op.json(&format!("/api/v1/domains?group_id={g}")).await["items"].as_array().unwrap().len(), 1, "a dry run changes nothing");

    let applied: Value = op
        .post(&format!("/api/v1/domain-groups/{g}/import"), json!({"format": "yaml", "content": yaml, "dry_run": false}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(applied["created"], 1);
    assert_eq!(
        op.json(&format!("/api/v1/domains?group_id={g}")).await["items"].as_array().unwrap().len(),
        2,
        "valid lines applied, rejected ones skipped"
    );
    let csv = "name,target_ip,target_port\nnew.example.com,10.0.0.6,9090\ncsv.example.com,10.0.0.10,80\n";
    let r: Value = op
        .post(&format!("/api/v1/domain-groups/{g}/import"), json!({"format": "csv", "content": csv, "dry_run": false}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((r["created"].as_u64(), r["updated"].as_u64()), (Some(1), Some(1)), "{r}");
    let body = expect_problem(
        op.post(&format!("/api/v1/domain-groups/{g}/import"), json!({"format": "yaml", "content": "name: x", "dry_run": true})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "content");

    // Export round-trips: importing the export changes nothing.
    let r = op.get(&format!("/api/v1/domain-groups/{g}/export?format=yaml")).await;
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/yaml"));
    let exported = r.text().await.unwrap();
    assert!(exported.contains("new.example.com") && exported.contains("www.new.example.com"));
    let again: Value = op
        .post(&format!("/api/v1/domain-groups/{g}/import"), json!({"format": "yaml", "content": exported, "dry_run": true}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((again["unchanged"].as_u64(), again["created"].as_u64(), again["updated"].as_u64()), (Some(3), Some(0), Some(0)), "{again}");
    let csv_out = op.get(&format!("/api/v1/domain-groups/{g}/export?format=csv")).await.text().await.unwrap();
    assert!(csv_out.starts_with("name,target_ip,target_port,scheme,enabled,aliases"));

    // Bulk: disable all, move one, all-or-nothing on a clash.
    let ids: Vec<i64> = op.json(&format!("/api/v1/domains?group_id={g}")).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    let r: Value = op.post("/api/v1/domains/bulk", json!({"ids": ids, "action": "disable"})).await.json().await.unwrap();
    assert_eq!(r["affected"], 3);
    assert_eq!(op.json(&format!("/api/v1/domains?group_id={g}&enabled=false")).await["items"].as_array().unwrap().len(), 3);
    let r = op.post("/api/v1/domains/bulk", json!({"ids": [ids[0]], "action": "move", "group_id": other})).await;
    assert_eq!(r.status(), StatusCode::OK);
    expect_problem(op.post("/api/v1/domains/bulk", json!({"ids": ids, "action": "explode"})).await, 422, "validation_failed").await;
    // Sorted paging by name, across groups, no gaps.
    let mut names = Vec::new();
    let mut path = "/api/v1/domains?limit=2&sort=-name".to_string();
    loop {
        let p = op.json(&path).await;
        names.extend(p["items"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap().to_string()));
        match p["next"].as_str() {
            Some(c) => path = format!("/api/v1/domains?limit=2&sort=-name&cursor={c}"),
            None => break,
        }
    }
    let mut sorted = names.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(names, sorted);
    assert_eq!(names.len(), 4);
    t.stop().await;
}

#[tokio::test]
async fn a_server_with_bound_groups_is_deleted_only_with_force_which_unbinds_them() {
    let t = TestApp::spawn(Backend::Sqlite).await;
    let op = t.user("ops", "operator").await;
    let s = server(&op, "edge").await;
    let g = group(&op, "web", Some(s)).await;
    assert_eq!(domain(&op, g, "a.example.com", json!({})).await.status(), StatusCode::CREATED);
    let body = expect_problem(op.delete(&format!("/api/v1/servers/{s}")).await, 409, "invalid_state").await;
    assert!(body["detail"].as_str().unwrap().contains("domain group web (1 domains)"), "{body}");
    assert_eq!(op.get(&format!("/api/v1/servers/{s}")).await.status(), StatusCode::OK, "nothing deleted");
    let r = op.delete(&format!("/api/v1/servers/{s}?force=true")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let d: Value = r.json().await.unwrap();
    assert_eq!(d["detached"], json!(["domain group web (1 domains)"]));
    let grp = op.json(&format!("/api/v1/domain-groups/{g}")).await;
    assert!(grp["server"].is_null(), "the group is unbound, not left pointing at a deleted server");
    assert_eq!(op.json(&format!("/api/v1/domains?group_id={g}")).await["items"].as_array().unwrap().len(), 1, "its domains are kept");
    let events = events(&t, "domain_group.changed").await;
    assert!(events.iter().any(|e| e["group_id"] == g && e["change"] == "rebound" && e["server_ids"] == json!([s])));
    t.stop().await;
}
