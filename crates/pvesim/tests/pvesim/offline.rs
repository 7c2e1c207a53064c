//! Offline nodes (595, refused connections, frozen tasks) and lagged metrics.

use std::time::Duration;

use crate::helpers::{fast_config, start, start_with};

#[tokio::test]
async fn offline_node_answers_595_and_refuses_connections() {
    let api = start().await;
    let pve3_url = api.sim.url_of("pve3").unwrap();
    assert_eq!(api.request_as(&api.auth, &pve3_url, "GET", "/version", &[]).await.unwrap().status, 200);
    api.sim.set_node_online("pve3", false);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = api.get("/nodes/pve3/status", &[]).await;
    assert_eq!(r.status, 595);
    assert_eq!(api.get("/nodes/pve3/qemu", &[]).await.status, 595);
    let err = api.request_as(&api.auth, &pve3_url, "GET", "/version", &[]).await;
    assert!(err.is_err(), "pve3's own listener must refuse connections");
    let status = api.get("/cluster/status", &[]).await;
    let items = status.ok().as_array().unwrap().clone();
    let pve3 = items.iter().find(|i| i["name"] == "pve3" && i["type"] == "node").unwrap();
    assert_eq!(pve3["online"], 0);
    assert_eq!(items[0]["quorate"], 1);
    let nodes = api.get("/nodes", &[]).await;
    let n3 = nodes.ok().as_array().unwrap().iter().find(|n| n["node"] == "pve3").unwrap().clone();
    assert_eq!(n3["status"], "offline");
    let r = api.clone_vm("pve1", 9000, 130, &[("target", "pve3")]).await;
    assert_eq!(r.status, 595);
    // Guests on an offline node are `unknown`.
    let r = api.clone_vm("pve1", 9000, 131, &[("target", "pve2")]).await;
    api.wait_task(r.ok().as_str().unwrap()).await;
    api.sim.set_node_online("pve2", false);
    let res = api.get("/cluster/resources", &[("type", "vm")]).await;
    let vm = res.ok().as_array().unwrap().iter().find(|v| v["vmid"] == 131).unwrap().clone();
    assert_eq!(vm["status"], "unknown");
    api.sim.set_node_online("pve2", true);
    api.sim.set_node_online("pve3", true);
    let mut back = false;
    for _ in 0..40 {
        if let Ok(r) = api.request_as(&api.auth, &pve3_url, "GET", "/version", &[]).await {
            assert_eq!(r.status, 200);
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(back, "pve3 listener did not come back");
    assert_eq!(api.get("/nodes/pve3/status", &[]).await.status, 200);
    api.sim.shutdown().await;
}

#[tokio::test]
async fn tasks_freeze_while_their_node_is_offline() {
    let mut cfg = fast_config();
    cfg.timing.linked_clone_ms = 200;
    cfg.timing.jitter = 0.0;
    let api = start_with(cfg).await;
    let r = api.clone_vm("pve1", 9000, 140, &[]).await;
    let upid = r.ok().as_str().unwrap().to_string();
    api.sim.set_node_online("pve1", false);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(api.sim.snapshot().running_tasks, 1, "task must not finish while pve1 is offline");
    api.sim.set_node_online("pve1", true);
    // Poll through pve2's listener? No: tasks must be polled via their node path, any listener.
    let pve2 = api.sim.url_of("pve2").unwrap();
    let path = format!("/nodes/pve1/tasks/{}/status", crate::helpers::enc(&upid));
    let mut done = false;
    for _ in 0..100 {
        let r = api.request_as(&api.auth, &pve2, "GET", &path, &[]).await.unwrap();
        if r.ok()["status"] == "stopped" {
            assert_eq!(r.ok()["exitstatus"], "OK");
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(done);
    api.sim.shutdown().await;
}

#[tokio::test]
async fn resources_lag_behind_real_state() {
    let mut cfg = fast_config();
    cfg.timing.metrics_lag_ms = 700;
    let api = start_with(cfg).await;
    let mem_of =
        |v: &serde_json::Value, node: &str| v.as_array().unwrap().iter().find(|n| n["node"] == node).unwrap()["mem"].as_u64().unwrap();
    // Align with a fresh pvestatd loop so the lag window is predictable.
    api.sim.refresh_metrics();
    let before = api.get("/cluster/resources", &[("type", "node")]).await.ok().clone();
    let stop = api.post("/nodes/pve1/qemu/100/status/stop", &[]).await;
    api.wait_task(stop.ok().as_str().unwrap()).await;
    assert_eq!(api.get("/nodes/pve1/qemu/100/status/current", &[]).await.ok()["status"], "stopped");
    let stale = api.get("/cluster/resources", &[("type", "node")]).await.ok().clone();
    assert_eq!(mem_of(&stale, "pve1"), mem_of(&before, "pve1"), "metrics changed before the lag elapsed");
    let vms = api.get("/cluster/resources", &[("type", "vm")]).await;
    let vm100 = vms.ok().as_array().unwrap().iter().find(|v| v["vmid"] == 100).unwrap().clone();
    assert_eq!(vm100["status"], "running", "resources still show the stale status");
    tokio::time::sleep(Duration::from_millis(900)).await;
    let fresh = api.get("/cluster/resources", &[("type", "node")]).await.ok().clone();
    assert_eq!(mem_of(&before, "pve1") - mem_of(&fresh, "pve1"), 2048 * 1024 * 1024);
    let n = fresh.as_array().unwrap().iter().find(|n| n["node"] == "pve2").unwrap().clone();
    assert_eq!(n["maxcpu"], 16);
    assert_eq!(n["maxmem"], 64_u64 * 1024 * 1024 * 1024);
    api.sim.shutdown().await;
}
