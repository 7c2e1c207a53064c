//! Authentication, CSRF, tokens, permission checks, users, roles, ACLs and pools.

use std::time::{Duration, Instant};

use crate::helpers::{Auth, fast_config, start, start_with};

#[tokio::test]
async fn ticket_csrf_and_token_auth() {
    let api = start().await;
    let base = api.base.clone();
    let ticket = api.root_ticket().await;
    let Auth::Ticket { ticket: t, csrf } = ticket.clone() else { unreachable!() };
    assert!(t.starts_with("PVE:root@pam:"), "{t}");
    let r = api.request_as(&ticket, &base, "GET", "/version", &[]).await.unwrap();
    assert_eq!(r.ok()["version"], "9.1.3");
    // Writes need the CSRF token.
    let no_csrf = Auth::Ticket { ticket: t.clone(), csrf: "0000:bad".into() };
    let started = Instant::now();
    let r = api.request_as(&no_csrf, &base, "POST", "/pools", &[("poolid", "p1")]).await.unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.message(), "permission denied - invalid csrf token\n");
    assert!(started.elapsed() >= Duration::from_millis(100), "401 must be delayed");
    let r = api.request_as(&ticket, &base, "POST", "/pools", &[("poolid", "p1")]).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!csrf.is_empty());
    // No credentials at all.
    let r = api.request_as(&Auth::None, &base, "GET", "/nodes", &[]).await.unwrap();
    assert_eq!(r.status, 401);
    // A wrong token secret.
    let bad = Auth::Token("root@pam!gantry=nope".into());
    assert_eq!(api.request_as(&bad, &base, "GET", "/nodes", &[]).await.unwrap().status, 401);
    let recs = api.sim.requests();
    assert!(recs.iter().any(|r| r.auth == "ticket" && r.status == 200));
    api.sim.shutdown().await;
}

#[tokio::test]
async fn bad_password_is_rejected_after_the_delay_and_masked_in_the_log() {
    let api = start().await;
    let started = Instant::now();
    let r = api.login("root@pam", "wrong-password").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.message(), "authentication failure\n");
    assert!(started.elapsed() >= Duration::from_millis(100));
    let rec = api.sim.requests().pop().unwrap();
    assert_eq!(rec.params["password"], "********");
    assert_eq!(rec.params["username"], "root@pam");
    api.sim.shutdown().await;
}

#[tokio::test]
async fn tickets_expire_and_renew() {
    let mut cfg = fast_config();
    cfg.timing.ticket_lifetime_ms = 600;
    let api = start_with(cfg).await;
    let base = api.base.clone();
    let Auth::Ticket { ticket, .. } = api.root_ticket().await else { unreachable!() };
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Renew: the current ticket as password.
    let renewed = api.login("root@pam", &ticket).await;
    let d = renewed.ok().clone();
    let fresh = Auth::Ticket { ticket: d["ticket"].as_str().unwrap().into(), csrf: d["CSRFPreventionToken"].as_str().unwrap().into() };
    tokio::time::sleep(Duration::from_millis(400)).await;
    let old = Auth::Ticket { ticket: ticket.clone(), csrf: String::new() };
    let r = api.request_as(&old, &base, "GET", "/nodes", &[]).await.unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.message(), "permission denied - invalid PVE ticket\n");
    let r = api.request_as(&fresh, &base, "GET", "/nodes", &[]).await.unwrap();
    assert_eq!(r.status, 200);
    // An expired ticket cannot renew itself.
    assert_eq!(api.login("root@pam", &ticket).await.status, 401);
    api.sim.shutdown().await;
}

#[tokio::test]
async fn limited_token_gets_403_and_acls_grant_access() {
    let api = start().await;
    let base = api.base.clone();
    let limited = Auth::Token("limited@pve!ro=0a1b2c3d-0000-4000-8000-00000000ro00".into());
    let r = api.request_as(&limited, &base, "GET", "/cluster/resources", &[]).await.unwrap();
    assert_eq!(r.status, 200);
    let r = api.request_as(&limited, &base, "POST", "/nodes/pve1/qemu/9000/clone", &[("newid", "150")]).await.unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(r.message(), "Permission check failed (/vms/9000, VM.Clone)\n");
    // Grant template use on the template and VM admin on a pool, then clone into the pool.
    api.post("/pools", &[("poolid", "stand-01")]).await.ok();
    api.put("/access/acl", &[("path", "/vms/9000"), ("roles", "PVETemplateUser"), ("users", "limited@pve")]).await.ok();
    api.put("/access/acl", &[("path", "/pool/stand-01"), ("roles", "PVEVMAdmin"), ("users", "limited@pve")]).await.ok();
    let acl = api.get("/access/acl", &[]).await;
    assert_eq!(acl.ok().as_array().unwrap().len(), 2);
    let perms = api.request_as(&limited, &base, "GET", "/access/permissions", &[("path", "/vms/9000")]).await.unwrap();
    assert_eq!(perms.ok()["/vms/9000"]["VM.Clone"], 1);
    let r =
        api.request_as(&limited, &base, "POST", "/nodes/pve1/qemu/9000/clone", &[("newid", "150"), ("pool", "stand-01")]).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let st = api.wait_task(r.data().as_str().unwrap()).await;
    assert_eq!(st["exitstatus"], "OK");
    assert_eq!(st["user"], "limited@pve!ro");
    // Remove the ACL again.
    api.put("/access/acl", &[("path", "/vms/9000"), ("roles", "PVETemplateUser"), ("users", "limited@pve"), ("delete", "1")]).await.ok();
    assert_eq!(api.get("/access/acl", &[]).await.ok().as_array().unwrap().len(), 1);
    let r = api.put("/access/acl", &[("path", "/"), ("roles", "NoSuchRole"), ("users", "limited@pve")]).await;
    assert_eq!(r.message(), "role 'NoSuchRole' does not exist\n");
    api.sim.shutdown().await;
}

#[tokio::test]
async fn users_roles_and_pools() {
    let api = start().await;
    api.post("/access/users", &[("userid", "alice@pve"), ("password", "alicepass1"), ("email", "a@example.org")]).await.ok();
    let r = api.post("/access/users", &[("userid", "alice@pve")]).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.message(), "create user failed: user 'alice@pve' already exists\n");
    assert_eq!(api.get("/access/users/alice@pve", &[]).await.ok()["email"], "a@example.org");
    api.put("/access/users/alice@pve", &[("enable", "0")]).await.ok();
    assert_eq!(api.get("/access/users/alice@pve", &[]).await.ok()["enable"], 0);
    assert_eq!(api.login("alice@pve", "alicepass1").await.status, 401, "disabled user logged in");
    api.delete("/access/users/alice@pve", &[]).await.ok();
    assert_eq!(api.get("/access/users/alice@pve", &[]).await.status, 500);
    let roles = api.get("/access/roles", &[]).await;
    let roles = roles.ok().as_array().unwrap().clone();
    for name in [
        "PVEVMUser",
        "PVEVMAdmin",
        "PVEAdmin",
        "Administrator",
        "PVEAuditor",
        "PVEPoolUser",
        "PVETemplateUser",
        "PVEDatastoreUser",
        "NoAccess",
    ] {
        assert!(roles.iter().any(|r| r["roleid"] == name), "missing role {name}");
    }

    api.post("/pools", &[("poolid", "lab"), ("comment", "c")]).await.ok();
    assert_eq!(api.post("/pools", &[("poolid", "lab")]).await.message(), "pool 'lab' already exists\n");
    api.post("/pools", &[("poolid", "other")]).await.ok();
    api.put("/pools", &[("poolid", "lab"), ("vms", "100")]).await.ok();
    let r = api.put("/pools", &[("poolid", "other"), ("vms", "100")]).await;
    assert_eq!(r.status, 500, "a VM in another pool must need allow-move");
    let members = api.get("/pools", &[("poolid", "lab")]).await;
    assert_eq!(members.ok()[0]["members"][0]["vmid"], 100);
    assert_eq!(members.ok()[0]["members"][0]["node"], "pve1");
    let r = api.delete("/pools", &[("poolid", "lab")]).await;
    assert_eq!(r.status, 500);
    assert!(r.message().contains("pool 'lab' is not empty"));
    api.put("/pools", &[("poolid", "other"), ("vms", "100"), ("allow-move", "1")]).await.ok();
    api.put("/pools", &[("poolid", "other"), ("vms", "100"), ("delete", "1")]).await.ok();
    api.put("/access/acl", &[("path", "/pool/lab"), ("roles", "PVEPoolUser"), ("users", "limited@pve")]).await.ok();
    api.delete("/pools", &[("poolid", "lab")]).await.ok();
    assert!(api.get("/access/acl", &[]).await.ok().as_array().unwrap().is_empty(), "pool ACLs must go with the pool");
    let pools = api.get("/pools", &[]).await;
    assert_eq!(pools.ok().as_array().unwrap().len(), 1);
    api.sim.shutdown().await;
}
