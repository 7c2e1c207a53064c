//! Clone lifecycle, locks, nextid, tasks and destroy.

use std::time::Duration;

use gantry_pvesim::UPID_REGEX;

use crate::helpers::{enc, fast_config, start, start_with};

#[tokio::test]
async fn linked_clone_lifecycle() {
    let mut cfg = fast_config();
    cfg.timing.linked_clone_ms = 900;
    cfg.timing.jitter = 0.0;
    let api = start_with(cfg).await;
    let a = api.get("/cluster/nextid", &[]).await;
    let b = api.get("/cluster/nextid", &[]).await;
    assert_eq!(a.ok(), b.ok(), "nextid must not reserve");
    assert_eq!(a.ok(), "101");
    let r = api.clone_vm("pve1", 9000, 101, &[("name", "web-1")]).await;
    let upid = r.ok().as_str().unwrap().to_string();
    assert!(regex::Regex::new(UPID_REGEX).unwrap().is_match(&upid), "{upid}");
    let parsed = gantry_pvesim::parse_upid(&upid).unwrap();
    assert_eq!((parsed.node.as_str(), parsed.kind.as_str(), parsed.id.as_str()), ("pve1", "qmclone", "9000"));
    assert_eq!(parsed.user, "root@pam!gantry");
    // The new VM is visible with lock: clone and counts for nextid.
    let list = api.get("/nodes/pve1/qemu", &[]).await;
    let item = list.ok().as_array().unwrap().iter().find(|v| v["vmid"] == 101).cloned().unwrap();
    assert_eq!(item["lock"], "clone");
    assert_eq!(api.get("/cluster/nextid", &[]).await.ok(), "102");
    let r = api.get("/cluster/nextid", &[("vmid", "101")]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"]["vmid"], "VM 101 already exists");
    // Same id again: the HTTP call itself fails.
    let r = api.clone_vm("pve1", 9000, 101, &[]).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.message(), "unable to create VM 101: config file already exists\n");
    // Config edits race the clone and lose after the 1 s (here 300 ms) lock timeout.
    let r = api.put("/nodes/pve1/qemu/101/config", &[("cores", "4")]).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.message(), "can't lock file '/var/lock/qemu-server/lock-101.conf' - got timeout\n");
    // Starting it is refused while locked.
    let r = api.post("/nodes/pve1/qemu/101/status/start", &[]).await;
    assert_eq!(r.message(), "VM is locked (clone)\n");
    // Polling the task on another node fails like Proxmox.
    let r = api.get(&format!("/nodes/pve2/tasks/{}/status", enc(&upid)), &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"]["upid"], "no such task");
    assert_eq!(api.sim.snapshot().running_tasks, 1);
    let st = api.wait_task(&upid).await;
    assert_eq!(st["exitstatus"], "OK");
    assert_eq!(st["type"], "qmclone");
    let log = api.get(&format!("/nodes/pve1/tasks/{}/log", enc(&upid)), &[]).await;
    assert_eq!(log.ok().as_array().unwrap().last().unwrap()["t"], "TASK OK");
    let cfg = api.get("/nodes/pve1/qemu/101/config", &[]).await;
    let cfg = cfg.ok().clone();
    assert!(cfg.get("lock").is_none());
    assert_eq!(cfg["name"], "web-1");
    assert!(cfg["scsi0"].as_str().unwrap().starts_with("ceph:base-9000-disk-0/vm-101-disk-0"), "{cfg}");
    let tmpl = api.get("/nodes/pve1/qemu/9000/config", &[]).await;
    assert_ne!(tmpl.ok()["net0"], cfg["net0"], "MACs must be randomized");
    assert!(cfg["net0"].as_str().unwrap().ends_with(",bridge=vmbr0"));
    // Now the config edit works, and the digest protects against lost updates.
    let digest = cfg["digest"].as_str().unwrap().to_string();
    api.put("/nodes/pve1/qemu/101/config", &[("cores", "4"), ("digest", &digest)]).await.ok();
    let r = api.put("/nodes/pve1/qemu/101/config", &[("cores", "8"), ("digest", &digest)]).await;
    assert!(r.message().starts_with("detected modified configuration"), "{}", r.body);
    // The template cannot go while its linked clone exists.
    let r = api.delete("/nodes/pve1/qemu/9000", &[]).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.message(), "base volume 'ceph:base-9000-disk-0' is still in use by linked clones\n");
    api.sim.shutdown().await;
}

#[tokio::test]
async fn clone_precondition_errors() {
    let api = start().await;
    let r = api.clone_vm("pve1", 9000, 120, &[("storage", "local-lvm")]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.message(), "parameter 'storage' not allowed for linked clones\n");
    // A full clone may choose the storage.
    let r = api.clone_vm("pve1", 9000, 120, &[("storage", "local-lvm"), ("full", "1")]).await;
    let st = api.wait_task(r.ok().as_str().unwrap()).await;
    assert_eq!(st["exitstatus"], "OK");
    let cfg = api.get("/nodes/pve1/qemu/120/config", &[]).await;
    assert!(cfg.ok()["scsi0"].as_str().unwrap().starts_with("local-lvm:vm-120-disk-0"));
    // Local template to another node.
    let r = api.clone_vm("pve2", 9002, 121, &[("target", "pve1")]).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.message(), "can't clone VM to node 'pve1' (VM uses local storage)\n");
    // Shared template to another node works and lands there.
    let r = api.clone_vm("pve1", 9000, 122, &[("target", "pve3")]).await;
    api.wait_task(r.ok().as_str().unwrap()).await;
    assert_eq!(api.get("/nodes/pve3/qemu/122/config", &[]).await.status, 200);
    assert_eq!(api.get("/nodes/pve1/qemu/122/config", &[]).await.status, 500);
    // Source on the wrong node.
    let r = api.clone_vm("pve2", 9000, 123, &[]).await;
    assert_eq!(r.message(), "Configuration file 'nodes/pve2/qemu-server/9000.conf' does not exist\n");
    // Destroying a running VM.
    let r = api.delete("/nodes/pve1/qemu/100", &[]).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.message(), "VM 100 is running - destroy failed\n");
    // Stop, then destroy with purge removes pool membership and ACLs.
    api.post("/pools", &[("poolid", "p")]).await.ok();
    api.put("/pools", &[("poolid", "p"), ("vms", "100")]).await.ok();
    api.put("/access/acl", &[("path", "/vms/100"), ("roles", "PVEVMUser"), ("users", "limited@pve")]).await.ok();
    let stop = api.post("/nodes/pve1/qemu/100/status/stop", &[]).await;
    assert_eq!(api.wait_task(stop.ok().as_str().unwrap()).await["exitstatus"], "OK");
    let del = api.delete("/nodes/pve1/qemu/100", &[("purge", "1"), ("destroy-unreferenced-disks", "1")]).await;
    assert_eq!(api.wait_task(del.ok().as_str().unwrap()).await["exitstatus"], "OK");
    let snap = api.sim.snapshot();
    assert!(!snap.vms.iter().any(|v| v.vmid == 100));
    assert!(snap.acls.is_empty());
    assert!(snap.pools[0].vms.is_empty());
    api.sim.shutdown().await;
}

#[tokio::test]
async fn parallel_clones_on_one_local_storage_hit_the_storage_lock_timeout() {
    let mut cfg = fast_config();
    cfg.timing.storage_lock_hold_ms = 250;
    cfg.timing.storage_lock_timeout_ms = 400;
    cfg.timing.linked_clone_ms = 20;
    cfg.timing.jitter = 0.0;
    let api = start_with(cfg).await;
    let mut upids = Vec::new();
    for i in 0..6 {
        let r = api.clone_vm("pve2", 9002, 200 + i, &[]).await;
        upids.push(r.ok().as_str().unwrap().to_string());
    }
    let mut ok = 0;
    let mut timeouts = 0;
    for upid in &upids {
        let st = api.wait_task(upid).await;
        match st["exitstatus"].as_str().unwrap() {
            "OK" => ok += 1,
            "can't lock file '/var/lock/pve-manager/pve-storage-local-lvm' - got timeout" => timeouts += 1,
            other => panic!("unexpected exit status {other}"),
        }
    }
    assert!(ok >= 1 && timeouts >= 1, "ok={ok} timeouts={timeouts}");
    assert_eq!(ok + timeouts, 6);
    let snap = api.sim.snapshot();
    let clones = snap.vms.iter().filter(|v| v.vmid >= 200 && v.vmid < 210).count();
    assert_eq!(clones, ok, "failed clones must remove their config");
    let stats = api.sim.stats();
    assert_eq!(stats.lock_timeouts, timeouts as u64);
    assert_eq!(stats.clone_failures, timeouts as u64);
    assert!(snap.held_locks.is_empty(), "{:?}", snap.held_locks);
    api.sim.shutdown().await;
}

#[tokio::test]
async fn config_post_start_stop_and_status() {
    let api = start().await;
    let r = api.post("/nodes/pve1/qemu/100/config", &[("tags", "infra;dns")]).await;
    let upid = r.ok().as_str().unwrap().to_string();
    assert!(upid.contains(":qmconfig:100:"));
    assert_eq!(api.wait_task(&upid).await["exitstatus"], "OK");
    assert_eq!(api.get("/nodes/pve1/qemu/100/config", &[]).await.ok()["tags"], "infra;dns");
    let st = api.get("/nodes/pve1/qemu/100/status/current", &[]).await;
    assert_eq!(st.ok()["status"], "running");
    let r = api.post("/nodes/pve1/qemu/100/status/start", &[]).await;
    assert_eq!(r.message(), "VM 100 already running\n");
    let r = api.post("/nodes/pve1/qemu/100/status/shutdown", &[]).await;
    api.wait_task(r.ok().as_str().unwrap()).await;
    assert_eq!(api.get("/nodes/pve1/qemu/100/status/current", &[]).await.ok()["status"], "stopped");
    let r = api.post("/nodes/pve1/qemu/100/status/start", &[]).await;
    api.wait_task(r.ok().as_str().unwrap()).await;
    assert_eq!(api.get("/nodes/pve1/qemu/100/status/current", &[]).await.ok()["status"], "running");
    let r = api.post("/nodes/pve1/qemu/9000/status/start", &[]).await;
    assert_eq!(r.message(), "you can't start a vm if it's a template\n");
    tokio::time::sleep(Duration::from_millis(1)).await;
    api.sim.shutdown().await;
}
