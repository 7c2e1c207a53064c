//! Fault injection through the library and the control API.

use gantry_pvesim::Fault;

use crate::helpers::start;

#[tokio::test]
async fn injected_faults_fire_once_each() {
    let api = start().await;
    api.sim.inject(Fault::CloneFailures { count: 1, message: "clone failed: rbd error".into() });
    let r = api.clone_vm("pve1", 9000, 160, &[]).await;
    assert_eq!(api.wait_task(r.ok().as_str().unwrap()).await["exitstatus"], "clone failed: rbd error");
    assert!(!api.sim.snapshot().vms.iter().any(|v| v.vmid == 160));
    let r = api.clone_vm("pve1", 9000, 160, &[]).await;
    assert_eq!(api.wait_task(r.ok().as_str().unwrap()).await["exitstatus"], "OK");

    api.sim.inject(Fault::StorageLockTimeouts { count: 1 });
    let r = api.clone_vm("pve1", 9001, 161, &[]).await;
    assert_eq!(api.wait_task(r.ok().as_str().unwrap()).await["exitstatus"], "cfs-lock 'storage-ceph' error: got lock request timeout");

    api.sim.inject(Fault::ConfigLockTimeouts { vmid: Some(160), count: 1 });
    let r = api.put("/nodes/pve1/qemu/160/config", &[("cores", "2")]).await;
    assert_eq!(r.message(), "can't lock file '/var/lock/qemu-server/lock-160.conf' - got timeout\n");
    assert_eq!(api.put("/nodes/pve1/qemu/160/config", &[("cores", "2")]).await.status, 200);

    // Control API over HTTP.
    let url = format!("{}/_sim/faults", api.base);
    let body = serde_json::json!({"kind": "ApiErrors", "path_contains": "/cluster/resources", "status": 596, "message": "Connection timed out", "count": 1});
    assert!(api.http.post(&url).json(&body).send().await.unwrap().status().is_success());
    assert_eq!(api.get("/cluster/resources", &[]).await.status, 596);
    assert_eq!(api.get("/cluster/resources", &[]).await.status, 200);
    let state: serde_json::Value = api.http.get(format!("{}/_sim/state", api.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(state, serde_json::to_value(api.sim.snapshot()).unwrap());
    let stats: serde_json::Value = api.http.get(format!("{}/_sim/stats", api.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["clone_failures"], 2);
    let r = api.http.post(format!("{}/_sim/nodes/pve3/online", api.base)).json(&serde_json::json!({"online": false})).send().await.unwrap();
    assert!(r.status().is_success());
    assert_eq!(api.get("/nodes/pve3/status", &[]).await.status, 595);
    let reqs: Vec<serde_json::Value> = api.http.get(format!("{}/_sim/requests", api.base)).send().await.unwrap().json().await.unwrap();
    assert!(reqs.iter().any(|r| r["status"] == 595));
    api.sim.shutdown().await;
}
