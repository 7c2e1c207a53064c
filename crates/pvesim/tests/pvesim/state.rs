//! Snapshots: create things, remove them, get the same state back.

use crate::helpers::start;

#[tokio::test]
async fn snapshot_is_restored_after_create_then_remove() {
    let api = start().await;
    let before = api.sim.snapshot();
    assert_eq!(before.vms.len(), 4);
    assert_eq!(before.nodes.len(), 3);
    assert!(before.network["pve1"].iter().any(|i| i.iface == "lab"));

    api.post("/pools", &[("poolid", "tmp")]).await.ok();
    api.post("/access/users", &[("userid", "bob@pve")]).await.ok();
    api.put("/access/acl", &[("path", "/pool/tmp"), ("roles", "PVEVMUser"), ("users", "bob@pve")]).await.ok();
    api.post("/nodes/pve2/network", &[("iface", "tmpbr"), ("type", "bridge")]).await.ok();
    let r = api.clone_vm("pve1", 9001, 170, &[("pool", "tmp")]).await;
    api.wait_task(r.ok().as_str().unwrap()).await;
    let mid = api.sim.snapshot();
    assert_ne!(mid, before);
    let vm = mid.vms.iter().find(|v| v.vmid == 170).unwrap();
    assert_eq!(vm.pool.as_deref(), Some("tmp"));
    assert_eq!(vm.lock, None);
    assert!(!vm.config.contains_key("vmgenid"), "volatile keys are left out");

    let r = api.delete("/nodes/pve1/qemu/170", &[("purge", "1")]).await;
    api.wait_task(r.ok().as_str().unwrap()).await;
    api.delete("/nodes/pve2/network", &[]).await.ok();
    api.delete("/pools", &[("poolid", "tmp")]).await.ok();
    api.delete("/access/users/bob@pve", &[]).await.ok();
    let after = api.sim.snapshot();
    assert_eq!(after, before);
    api.sim.shutdown().await;
}

#[tokio::test]
async fn config_parses_from_yaml_and_refuses_non_loopback() {
    let cfg = gantry_pvesim::SimConfig::from_yaml(
        "cluster_name: tiny\nnodes:\n  - name: a\n    cores: 4\nguests: []\nnetwork: {}\ntiming:\n  scale: 0.5\n",
    )
    .unwrap();
    assert_eq!(cfg.nodes.len(), 1);
    assert_eq!(cfg.timing.scale, 0.5);
    let mut bad = cfg.clone();
    bad.listen = "0.0.0.0".into();
    assert!(matches!(gantry_pvesim::Simulator::start(bad).await, Err(gantry_pvesim::SimError::NotLoopback(_))));
    let sim = gantry_pvesim::Simulator::start(cfg).await.unwrap();
    assert_eq!(sim.urls().len(), 1);
    assert!(sim.urls()[0].starts_with("https://127.0.0.1:"));
    assert_eq!(sim.fingerprint().len(), 32 * 3 - 1);
    sim.shutdown().await;
}
