//! Proxmox VE stands against the simulator (`gantry-pvesim`), which checks
//! every request against the official API schema and behaves like Proxmox
//! on locks, tasks, staged networks and offline nodes.
//!
//! Each test starts its own simulator (3 nodes of different sizes) and its
//! own Gantry, deploys through the REST API and compares the simulator's
//! state before and after cleanup.

use crate::helpers::{Backend, FreshDb, Session, TestApp, eventually, expect_problem};
use gantry_pvesim::{DEMO_TOKEN_SECRET, Fault, SimConfig, SimHandle, Simulator, Timing};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

async fn sim() -> SimHandle {
    Simulator::start(SimConfig { timing: Timing::fast(), ..SimConfig::default() }).await.expect("simulator starts")
}

async fn app(backend: Backend) -> TestApp {
    TestApp::spawn_on(FreshDb::new(backend).await, |c| {
        c.pve.poll_ms = 20;
        c.pve.retry_scale = 0.05;
        c.pve.per_node = 4;
        c.pve.per_storage = 3;
    })
    .await
}

async fn add_cluster(s: &Session, sim: &SimHandle) -> i64 {
    let r = s
        .post(
            "/api/v1/pve/clusters",
            json!({"name": "lab", "endpoints": sim.urls(), "token_id": "root@pam!gantry", "secret": DEMO_TOKEN_SECRET, "fingerprint": sim.fingerprint()}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let c: Value = r.json().await.unwrap();
    assert!(!c.to_string().contains(DEMO_TOKEN_SECRET), "the secret never comes back");
    c["id"].as_i64().unwrap()
}

fn blueprint(name: &str) -> Value {
    json!({
        "name": name,
        "strategy": "balanced",
        "vms": [
            {"key": "router", "template": "router", "name": "{user}-router", "memory_mib": 256, "cores": 1, "networks": ["hq.100", "lab"], "start": true},
            {"key": "client", "template": "debian-12", "name": "{user}-client", "memory_mib": 1024, "cores": 1, "networks": ["hq.100"]},
            {"key": "server", "template": "debian-12", "name": "{user}-server", "memory_mib": 2048, "cores": 2, "networks": ["hq.200", "vmbr0.10"], "disks": [{"disk": "scsi0", "size_gib": 20}], "start": true}
        ]
    })
}

fn users(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("student{i}@pve")).collect()
}

/// Waits for a deployment to leave queued/running/cleaning and returns it.
/// Waits until the deployment is settled and its job has finished too: the
/// handler records the deployment's final status just before the runner
/// marks the job done, and a new request in between is refused (409).
async fn settle(s: &Session, id: i64, secs: u64) -> Value {
    eventually(secs, || async {
        let d = s.json(&format!("/api/v1/pve/deployments/{id}")).await;
        if matches!(d["status"].as_str(), Some("queued" | "running" | "cleaning")) {
            return None;
        }
        if let Some(j) = d["job_id"].as_i64() {
            let job = s.json(&format!("/api/v1/jobs/{j}")).await;
            if !matches!(job["status"].as_str(), Some("succeeded" | "failed" | "cancelled")) {
                return None;
            }
        }
        Some(d)
    })
    .await
}

fn all_vms(d: &Value) -> Vec<Value> {
    d["stands"].as_array().unwrap().iter().flat_map(|s| s["vms"].as_array().unwrap().clone()).collect()
}

/// What "the cluster as before" means: guests, pools, users, ACLs, applied and staged networks.
fn comparable(s: &gantry_pvesim::StateSnapshot) -> Value {
    json!({"vms": s.vms, "pools": s.pools, "users": s.users, "acls": s.acls, "network": s.network, "staged": s.staged_network})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_users_three_vms_balanced_schema_clean_and_cleanup_restores_everything() {
    let sim = sim().await;
    let before = sim.snapshot();
    let t = app(Backend::Sqlite).await;
    let s = t.admin().await;
    let cid = add_cluster(&s, &sim).await;

    let report = s.post(&format!("/api/v1/pve/clusters/{cid}/test"), json!({})).await.json::<Value>().await.unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["version"], "9.1.3");
    assert_eq!(report["nodes_online"], 3);

    let bp = s.post("/api/v1/pve/blueprints", blueprint("net-lab")).await;
    assert_eq!(bp.status(), StatusCode::CREATED);
    let req = json!({"cluster_id": cid, "blueprint": "net-lab", "users": users(30)});
    let plan: Value = s.post("/api/v1/pve/stands/plan", req.clone()).await.json().await.unwrap();
    assert_eq!(plan["errors"], json!([]), "{plan}");
    assert_eq!(plan["stands"].as_array().unwrap().len(), 30);
    // Every VM's choice comes with every node's score.
    let first = &plan["stands"][0]["vms"][0];
    assert_eq!(first["scores"].as_array().unwrap().len(), 3, "{first}");
    // `lab` has no port on pve1 and is missing elsewhere: it is created, and stands across nodes get a warning.
    assert!(plan["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("no physical port")), "{plan}");
    let nets = plan["network"].as_array().unwrap();
    assert!(nets.iter().any(|n| n["create"].as_array().unwrap().contains(&json!("lab"))), "{plan}");
    assert!(nets.iter().any(|n| n["make_vlan_aware"].as_array().unwrap().contains(&json!("vmbr0"))), "{plan}");

    let r = s.post("/api/v1/pve/stands/deploy", req).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let dep: Value = r.json().await.unwrap();
    let id = dep["deployment"]["id"].as_i64().unwrap();
    let d = settle(&s, id, 120).await;
    assert_eq!(d["status"], "done", "{d}");
    let vms = all_vms(&d);
    assert_eq!(vms.len(), 90);
    assert!(vms.iter().all(|v| v["status"] == "ready"), "{d}");
    let ids: BTreeSet<i64> = vms.iter().map(|v| v["vmid"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 90, "VMIDs are unique");
    assert!(ids.iter().all(|i| (10_000..=19_999).contains(i)), "VMIDs come from the configured range");

    // Every request Gantry sent was valid against the schema.
    let violations = sim.schema_violations();
    assert!(violations.is_empty(), "schema violations: {violations:#?}");
    assert!(sim.requests().len() > 90 * 4, "the requests were seen and validated");

    // On the cluster: VMs placed as planned, configured, tagged, in their pools, started when asked.
    let snap = sim.snapshot();
    let ours: Vec<_> = snap.vms.iter().filter(|v| ids.contains(&(v.vmid as i64))).collect();
    assert_eq!(ours.len(), 90);
    for v in &ours {
        assert!(v.tags.as_deref().unwrap_or("").contains(&format!("gantry-d{id}")), "{v:?}");
        assert!(v.pool.as_deref().unwrap_or("").starts_with(&format!("gantry-{id}-")), "{v:?}");
        assert!(v.lock.is_none(), "{v:?}");
        if v.name.ends_with("-router") {
            assert_eq!(v.config.get("net0").map(|s| s.contains("bridge=hq") && s.contains("tag=100")), Some(true), "{v:?}");
            assert_eq!(v.config.get("net1").map(|s| s.contains("bridge=lab")), Some(true), "{v:?}");
            assert_eq!(v.status, gantry_pvesim::RunState::Running, "{v:?}");
        }
        if v.name.ends_with("-server") {
            assert_eq!(v.config.get("memory").map(String::as_str), Some("2048"), "{v:?}");
            assert!(v.config.get("scsi0").is_some_and(|d| d.contains("size=20G")), "the disk was grown: {v:?}");
        }
    }
    // Each user has their pool and the PVEVMUser role on it, nowhere else.
    assert_eq!(snap.pools.iter().filter(|p| p.poolid.starts_with(&format!("gantry-{id}-"))).count(), 30);
    let acl = serde_json::to_value(&snap.acls).unwrap();
    assert_eq!(acl.as_array().unwrap().iter().filter(|a| a.to_string().contains("student7@pve")).count(), 1, "{acl}");
    // Balanced: allocated memory as a fraction of each node's size stays within one large VM of each other.
    let mut alloc: BTreeMap<String, f64> = BTreeMap::new();
    for v in &ours {
        *alloc.entry(v.node.clone()).or_default() += v.config.get("memory").and_then(|m| m.parse::<f64>().ok()).unwrap_or(0.0) / 1024.0;
    }
    // Memory in use = the host's own use plus running guests (infra-dns on pve1) plus the stands.
    let mut used: BTreeMap<String, f64> = sim.config().nodes.iter().map(|n| (n.name.clone(), n.base_memory_used as f64 / GIB)).collect();
    for g in before.vms.iter().filter(|v| v.status == gantry_pvesim::RunState::Running) {
        *used.entry(g.node.clone()).or_default() += g.config.get("memory").and_then(|m| m.parse::<f64>().ok()).unwrap_or(0.0) / 1024.0;
    }
    let frac: Vec<f64> =
        sim.config().nodes.iter().map(|n| (used[&n.name] + alloc.get(&n.name).copied().unwrap_or(0.0)) / (n.memory as f64 / GIB)).collect();
    assert!(alloc.len() == 3, "all three nodes got VMs: {alloc:?}");
    let spread = frac.iter().cloned().fold(f64::MIN, f64::max) - frac.iter().cloned().fold(f64::MAX, f64::min);
    // Balanced evens out the weighted load (memory 0.7, vCPUs 0.3): the last VM's scores per node
    // are within one VM of each other, and memory use stays within a quarter of each node's size
    // (a CPU-bound small node takes the memory-light VMs).
    let last: Vec<f64> = plan["stands"][29]["vms"][2]["scores"].as_array().unwrap().iter().map(|s| s["score"].as_f64().unwrap()).collect();
    let score_spread = last.iter().cloned().fold(f64::MIN, f64::max) - last.iter().cloned().fold(f64::MAX, f64::min);
    assert!(score_spread <= 0.05, "weighted load is balanced: {last:?}");
    assert!(spread <= 0.25, "memory use per node is balanced: {alloc:?} {frac:?} planned {}", plan["per_node"]);
    // One network apply per node that needed changes.
    let applies: BTreeMap<String, usize> =
        sim.requests().iter().filter(|r| r.method == "PUT" && r.path.ends_with("/network")).fold(BTreeMap::new(), |mut m, r| {
            *m.entry(r.path.clone()).or_insert(0) += 1;
            m
        });
    assert!(applies.values().all(|n| *n == 1), "one apply per node: {applies:?}");
    assert_eq!(applies.len(), 3, "{applies:?}");

    // New users' passwords are shown once.
    let creds: Value = s.post(&format!("/api/v1/pve/deployments/{id}/credentials"), json!({})).await.json().await.unwrap();
    assert_eq!(creds.as_array().unwrap().len(), 30);
    let again: Value = s.post(&format!("/api/v1/pve/deployments/{id}/credentials"), json!({})).await.json().await.unwrap();
    assert_eq!(again, json!([]));

    // One user's stand first, then the rest.
    let r = s.post(&format!("/api/v1/pve/deployments/{id}/cleanup"), json!({"users": ["student3@pve"]})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let d = settle(&s, id, 60).await;
    assert_eq!(d["status"], "done", "{d}");
    let st3 = d["stands"].as_array().unwrap().iter().find(|s| s["user"] == "student3@pve").unwrap().clone();
    assert_eq!(st3["status"], "removed", "{st3}");
    assert!(!sim.snapshot().users.iter().any(|u| serde_json::to_value(u).unwrap()["userid"] == "student3@pve"));

    let r = s.post(&format!("/api/v1/pve/deployments/{id}/cleanup"), json!({})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let d = settle(&s, id, 120).await;
    let job = s.json(&format!("/api/v1/jobs/{}", d["job_id"])).await;
    assert_eq!(d["status"], "cleaned", "{} {}", job["result"], job["log"]);
    eventually(10, || async { (sim.snapshot().running_tasks == 0).then_some(()) }).await;
    let after = sim.snapshot();
    assert_eq!(comparable(&after), comparable(&before), "the cluster is exactly as before the deployment");
    assert!(sim.schema_violations().is_empty());
    let orphans: Value = s.json(&format!("/api/v1/pve/clusters/{cid}/orphans")).await;
    assert_eq!(orphans, json!([]));
    t.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_timeouts_and_failed_clones_are_retried_or_reported_and_retry_resumes() {
    let sim = sim().await;
    let t = app(Backend::Sqlite).await;
    let s = t.admin().await;
    let cid = add_cluster(&s, &sim).await;
    sim.inject(Fault::StorageLockTimeouts { count: 6 });
    sim.inject(Fault::ConfigLockTimeouts { vmid: None, count: 4 });
    let mut bp = blueprint("locks");
    bp["vms"] = json!([bp["vms"][1].clone()]);
    let r = s.post("/api/v1/pve/stands/deploy", json!({"cluster_id": cid, "spec": bp, "users": users(6)})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = r.json::<Value>().await.unwrap()["deployment"]["id"].as_i64().unwrap();
    let d = settle(&s, id, 60).await;
    assert_eq!(d["status"], "done", "lock timeouts never reach the user: {d}");
    assert!(sim.stats().lock_timeouts >= 10, "the faults fired: {:?}", sim.stats());

    // A clone that fails for good is reported on its VM, the others finish; retry resumes only what is missing.
    sim.inject(Fault::CloneFailures { count: 1, message: "clone failed: out of space".into() });
    let r = s.post("/api/v1/pve/stands/deploy", json!({"cluster_id": cid, "spec": bp, "users": ["a1@pve", "a2@pve", "a3@pve"]})).await;
    let id2 = r.json::<Value>().await.unwrap()["deployment"]["id"].as_i64().unwrap();
    let d = settle(&s, id2, 60).await;
    assert_eq!(d["status"], "partial", "{d}");
    let failed: Vec<Value> = all_vms(&d).into_iter().filter(|v| v["status"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{d}");
    assert!(failed[0]["error"].as_str().unwrap().contains("out of space"), "{failed:?}");
    let clones_before = sim.requests().iter().filter(|r| r.path.ends_with("/clone")).count();
    let r = s.post(&format!("/api/v1/pve/deployments/{id2}/retry"), json!({})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let d = settle(&s, id2, 60).await;
    let job = s.json(&format!("/api/v1/jobs/{}", d["job_id"])).await;
    assert_eq!(d["status"], "done", "{d} {job}");
    let clones_after = sim.requests().iter().filter(|r| r.path.ends_with("/clone")).count();
    assert_eq!(clones_after - clones_before, 1, "retry cloned only the failed VM");
    assert!(sim.schema_violations().is_empty());
    t.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_going_offline_mid_deployment_loses_no_vm() {
    // Slower clones so the node fails while work is in flight.
    let timing = Timing { linked_clone_ms: 400, ..Timing::fast() };
    let sim = Simulator::start(SimConfig { timing, ..SimConfig::default() }).await.unwrap();
    let t = app(Backend::Sqlite).await;
    let s = t.admin().await;
    let cid = add_cluster(&s, &sim).await;
    let mut bp = blueprint("offline");
    bp["vms"] = json!([bp["vms"][1].clone()]);
    bp["strategy"] = json!("spread");
    let r = s.post("/api/v1/pve/stands/deploy", json!({"cluster_id": cid, "spec": bp, "users": users(15)})).await;
    let body: Value = r.json().await.unwrap();
    let id = body["deployment"]["id"].as_i64().unwrap();
    assert!(body["plan"]["per_node"]["pve3"].as_u64().unwrap_or(0) > 0, "some VMs were planned on pve3: {}", body["plan"]["per_node"]);
    // As soon as a couple of VMs are done, pve3 goes away.
    eventually(30, || async {
        let d = s.json(&format!("/api/v1/pve/deployments/{id}")).await;
        (all_vms(&d).iter().filter(|v| v["status"] != "planned").count() >= 2).then_some(())
    })
    .await;
    sim.set_node_online("pve3", false);
    let d = settle(&s, id, 120).await;
    let vms = all_vms(&d);
    assert_eq!(vms.len(), 15);
    for v in &vms {
        match v["status"].as_str() {
            Some("ready") => {
                assert!(v["node"] != "pve3" || sim.snapshot().vms.iter().any(|x| x.vmid as i64 == v["vmid"].as_i64().unwrap()))
            }
            Some("failed") => {
                let e = v["error"].as_str().unwrap();
                assert!(e.contains("unreachable") || e.contains("595") || e.contains("pve3"), "a failure says why: {v}");
            }
            other => panic!("no VM is left in limbo: {other:?} {v}"),
        }
    }
    // VMs not yet cloned were moved to the nodes still up.
    let moved = vms.iter().filter(|v| v["status"] == "ready" && v["node"] != "pve3").count();
    assert!(moved >= 10, "{d}");
    // pve3 comes back: a retry finishes the rest.
    sim.set_node_online("pve3", true);
    if d["status"] != "done" {
        let r = s.post(&format!("/api/v1/pve/deployments/{id}/retry"), json!({})).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let d = settle(&s, id, 120).await;
        let left: Vec<Value> = all_vms(&d).into_iter().filter(|v| v["status"] != "ready").collect();
        assert!(left.is_empty() || d["status"] == "done", "{left:?}");
    }
    assert!(sim.schema_violations().is_empty());
    t.stop().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_deployments_at_once_never_share_a_vmid() {
    let sim = sim().await;
    let t = app(Backend::Sqlite).await;
    let s = t.admin().await;
    let cid = add_cluster(&s, &sim).await;
    let mut bp = blueprint("twins");
    bp["vms"] = json!([bp["vms"][1].clone()]);
    let a = s.post("/api/v1/pve/stands/deploy", json!({"cluster_id": cid, "spec": bp, "users": users(8)}));
    let b = s.post(
        "/api/v1/pve/stands/deploy",
        json!({"cluster_id": cid, "spec": bp, "users": ["x1@pve", "x2@pve", "x3@pve", "x4@pve", "x5@pve", "x6@pve", "x7@pve", "x8@pve"]}),
    );
    let (a, b) = tokio::join!(a, b);
    let ida = a.json::<Value>().await.unwrap()["deployment"]["id"].as_i64().unwrap();
    let idb = b.json::<Value>().await.unwrap()["deployment"]["id"].as_i64().unwrap();
    let da = settle(&s, ida, 60).await;
    let db = settle(&s, idb, 60).await;
    assert_eq!((da["status"].as_str(), db["status"].as_str()), (Some("done"), Some("done")), "{da} {db}");
    let mut seen = BTreeSet::new();
    for v in all_vms(&da).iter().chain(all_vms(&db).iter()) {
        assert!(seen.insert(v["vmid"].as_i64().unwrap()), "VMID {} used twice", v["vmid"]);
    }
    assert_eq!(seen.len(), 16);
    t.stop().await;
    sim.shutdown().await;
}

crate::backend_tests!(clusters_blueprints_and_a_small_stand);

/// Input checks, secrets, YAML import errors with line and column, and one
/// deploy + cleanup on each database.
async fn clusters_blueprints_and_a_small_stand(backend: Backend) {
    let sim = sim().await;
    let before = sim.snapshot();
    let t = app(backend).await;
    let s = t.admin().await;
    let viewer = t.user("watcher", "viewer").await;

    // No trust anchor, bad endpoint, bad token id: each named.
    let r =
        s.post("/api/v1/pve/clusters", json!({"name": "x", "endpoints": ["http://pve:8006"], "token_id": "root@pam", "secret": "s"})).await;
    let p = expect_problem(r, 422, "validation_failed").await;
    let fields: BTreeSet<String> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap().to_string()).collect();
    assert!(fields.contains("endpoints[0]") && fields.contains("token_id") && fields.contains("fingerprint"), "{p}");
    // A wrong pinned fingerprint: the test reports a TLS failure, nothing else is sent.
    let wrong = "AA:".repeat(31) + "AA";
    let r = s
        .post("/api/v1/pve/clusters", json!({"name": "pinned-wrong", "endpoints": sim.urls(), "token_id": "root@pam!gantry", "secret": DEMO_TOKEN_SECRET, "fingerprint": wrong}))
        .await;
    let bad_id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let rep: Value = s.post(&format!("/api/v1/pve/clusters/{bad_id}/test"), json!({})).await.json().await.unwrap();
    assert_eq!((rep["ok"].as_bool(), rep["error_kind"].as_str()), (Some(false), Some("tls")), "{rep}");
    // A token without the privileges: reported, not hidden.
    let r = s
        .post(
            "/api/v1/pve/clusters",
            json!({"name": "limited", "endpoints": [sim.urls()[1]], "token_id": "limited@pve!ro", "secret": "0a1b2c3d-0000-4000-8000-00000000ro00", "fingerprint": sim.fingerprint()}),
        )
        .await;
    let lim = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let rep: Value = s.post(&format!("/api/v1/pve/clusters/{lim}/test"), json!({})).await.json().await.unwrap();
    assert_eq!(rep["ok"], false, "{rep}");
    assert!(rep["missing_privileges"].as_array().unwrap().contains(&json!("VM.Clone")), "{rep}");
    // Password login (ticket + CSRF) works as well.
    let r = s
        .post(
            "/api/v1/pve/clusters",
            json!({"name": "ticket", "endpoints": sim.urls(), "username": "root@pam", "secret": gantry_pvesim::DEMO_ROOT_PASSWORD, "fingerprint": sim.fingerprint()}),
        )
        .await;
    let tid = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let rep: Value = s.post(&format!("/api/v1/pve/clusters/{tid}/test"), json!({})).await.json().await.unwrap();
    assert_eq!(rep["ok"], true, "{rep}");
    // Viewers read, never write.
    let r = viewer.post("/api/v1/pve/clusters", json!({"name": "v"})).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // YAML import: a bad VLAN names its line and column.
    let yaml = "name: yaml-lab\nvms:\n  - key: web\n    template: debian-12\n    networks:\n      - hq.100\n      - hq.5000\n";
    let r = s.post("/api/v1/pve/blueprints/import", json!({"yaml": yaml})).await;
    let p = expect_problem(r, 422, "validation_failed").await;
    assert!(p.to_string().contains("line 7, column 9"), "{p}");
    let r = s.post("/api/v1/pve/blueprints/import", json!({"yaml": yaml.replace("hq.5000", "hq.200")})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let bid = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let text = s.get(&format!("/api/v1/pve/blueprints/{bid}/export")).await.text().await.unwrap();
    assert!(text.contains("hq.200") && text.contains("name: yaml-lab"), "{text}");

    // Unknown users and templates are refused before anything happens.
    let r = s.post("/api/v1/pve/stands/plan", json!({"cluster_id": tid, "blueprint": "yaml-lab", "users": ["ok@pve", "not a user"]})).await;
    let p = expect_problem(r, 422, "validation_failed").await;
    assert!(p.to_string().contains("users[1]"), "{p}");
    // Two users whose names fold to one pool name are refused (they would share a pool).
    let r =
        s.post("/api/v1/pve/stands/plan", json!({"cluster_id": tid, "blueprint": "yaml-lab", "users": ["j.doe@pve", "j-doe@ldap"]})).await;
    let p = expect_problem(r, 422, "validation_failed").await;
    assert!(p.to_string().contains("would share the pool"), "{p}");
    let mut bad = blueprint("bad-template");
    bad["vms"][0]["template"] = json!("no-such-template");
    let r = s.post("/api/v1/pve/stands/deploy", json!({"cluster_id": tid, "spec": bad, "users": ["u1@pve"]})).await;
    let p = expect_problem(r, 422, "validation_failed").await;
    assert!(p.to_string().contains("no-such-template"), "{p}");

    // A small stand through the ticket-authenticated cluster, then cleanup.
    let r = s.post("/api/v1/pve/stands/deploy", json!({"cluster_id": tid, "blueprint": "yaml-lab", "users": users(3)})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = r.json::<Value>().await.unwrap()["deployment"]["id"].as_i64().unwrap();
    let d = settle(&s, id, 60).await;
    assert_eq!(d["status"], "done", "{d}");
    let r = s.post(&format!("/api/v1/pve/deployments/{id}/cleanup"), json!({})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let d = settle(&s, id, 60).await;
    assert_eq!(d["status"], "cleaned", "{d}");
    eventually(10, || async { (sim.snapshot().running_tasks == 0).then_some(()) }).await;
    assert_eq!(comparable(&sim.snapshot()), comparable(&before));
    assert!(sim.schema_violations().is_empty(), "{:#?}", sim.schema_violations());
    // A cluster still used by a deployment cannot be deleted; a cleaned one no longer holds it.
    let r = s.delete(&format!("/api/v1/pve/clusters/{tid}")).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let _ = GIB;
    t.stop().await;
    sim.shutdown().await;
}

/// An orphan: a VM tagged for a deployment Gantry does not know is found and removed on request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_are_found_and_removed() {
    let sim = sim().await;
    let t = app(Backend::Sqlite).await;
    let s = t.admin().await;
    let cid = add_cluster(&s, &sim).await;
    let mut bp = blueprint("orph");
    bp["vms"] = json!([bp["vms"][1].clone()]);
    let r = s.post("/api/v1/pve/stands/deploy", json!({"cluster_id": cid, "spec": bp, "users": users(2)})).await;
    let id = r.json::<Value>().await.unwrap()["deployment"]["id"].as_i64().unwrap();
    let d = settle(&s, id, 60).await;
    assert_eq!(d["status"], "done");
    assert_eq!(s.json(&format!("/api/v1/pve/clusters/{cid}/orphans")).await, json!([]));
    // Gantry's database forgets the deployment (a restore from an old backup, say): its VMs are orphans now.
    let other = app(Backend::Sqlite).await;
    let s2 = other.admin().await;
    let cid2 = add_cluster(&s2, &sim).await;
    let orphans: Value = s2.json(&format!("/api/v1/pve/clusters/{cid2}/orphans")).await;
    assert_eq!(orphans.as_array().unwrap().len(), 2, "{orphans}");
    let vmids: Vec<i64> = orphans.as_array().unwrap().iter().map(|o| o["vmid"].as_i64().unwrap()).collect();
    let res: Value = s2.post(&format!("/api/v1/pve/clusters/{cid2}/orphans/remove"), json!({"vmids": vmids})).await.json().await.unwrap();
    assert!(res.as_array().unwrap().iter().all(|r| r["removed"] == true), "{res}");
    assert!(!sim.snapshot().vms.iter().any(|v| vmids.contains(&(v.vmid as i64))));
    // An id that is not an orphan is refused, nothing is touched.
    let res: Value = s2.post(&format!("/api/v1/pve/clusters/{cid2}/orphans/remove"), json!({"vmids": [9000]})).await.json().await.unwrap();
    assert_eq!(res[0]["removed"], false);
    assert!(sim.snapshot().vms.iter().any(|v| v.vmid == 9000));
    other.stop().await;
    t.stop().await;
    sim.shutdown().await;
}

/// Password login: the ticket is renewed before it expires, so a deployment
/// that outlives one ticket never sees a 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_are_renewed_before_they_expire() {
    let timing = Timing { ticket_lifetime_ms: 1_500, linked_clone_ms: 300, ..Timing::fast() };
    let sim = Simulator::start(SimConfig { timing, ..SimConfig::default() }).await.unwrap();
    let t = TestApp::spawn_on(FreshDb::new(Backend::Sqlite).await, |c| {
        c.pve.poll_ms = 20;
        c.pve.retry_scale = 0.05;
        c.pve.ticket_renew_seconds = 1;
        c.pve.per_storage = 1;
    })
    .await;
    let s = t.admin().await;
    let r = s
        .post(
            "/api/v1/pve/clusters",
            json!({"name": "ticket", "endpoints": sim.urls(), "username": "root@pam", "secret": gantry_pvesim::DEMO_ROOT_PASSWORD, "fingerprint": sim.fingerprint()}),
        )
        .await;
    let cid = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let mut bp = blueprint("tickets");
    bp["vms"] = json!([bp["vms"][1].clone()]);
    let started = std::time::Instant::now();
    let r = s.post("/api/v1/pve/stands/deploy", json!({"cluster_id": cid, "spec": bp, "users": users(10)})).await;
    let id = r.json::<Value>().await.unwrap()["deployment"]["id"].as_i64().unwrap();
    let d = settle(&s, id, 60).await;
    assert_eq!(d["status"], "done", "{d}");
    assert!(started.elapsed() > std::time::Duration::from_millis(3_000), "the run outlived two ticket lifetimes");
    let reqs = sim.requests();
    let logins = reqs.iter().filter(|r| r.method == "POST" && r.path == "/access/ticket").count();
    assert!(logins >= 3, "tickets were renewed ({logins} ticket requests)");
    let unauthorized: Vec<_> = reqs.iter().filter(|r| r.status == 401).collect();
    assert!(unauthorized.is_empty(), "no request ran on an expired ticket: {unauthorized:?}");
    assert!(reqs.iter().filter(|r| r.method != "GET" && r.auth == "ticket").count() > 10, "writes used the ticket (with CSRF)");
    t.stop().await;
    sim.shutdown().await;
}
