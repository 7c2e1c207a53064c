//! Network staging, apply (one reload at a time) and revert.

use crate::helpers::start;

fn find<'a>(list: &'a serde_json::Value, iface: &str) -> Option<&'a serde_json::Value> {
    list.as_array().unwrap().iter().find(|i| i["iface"] == iface)
}

#[tokio::test]
async fn stage_apply_and_revert() {
    let api = start().await;
    let list = api.get("/nodes/pve1/network", &[("type", "bridge")]).await;
    let hq = find(list.ok(), "hq").unwrap();
    assert_eq!(hq["bridge_vlan_aware"], 1);
    assert_eq!(hq["bridge_ports"], "eno2");
    assert_eq!(find(list.ok(), "lab").unwrap()["bridge_ports"], "");
    assert!(find(list.ok(), "eno1").is_none(), "type filter");
    let pve2 = api.get("/nodes/pve2/network", &[("type", "any_bridge")]).await;
    assert!(find(pve2.ok(), "lab").is_none(), "lab exists only on pve1");

    api.post(
        "/nodes/pve1/network",
        &[
            ("iface", "stand7"),
            ("type", "bridge"),
            ("bridge_vlan_aware", "1"),
            ("bridge_vids", "2 4 100-200"),
            ("autostart", "1"),
            ("comments", "stand 7"),
        ],
    )
    .await
    .ok();
    let r = api.post("/nodes/pve1/network", &[("iface", "stand7"), ("type", "bridge")]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"]["iface"], "interface already exists");
    let staged = api.get("/nodes/pve1/network", &[]).await;
    let s7 = find(staged.ok(), "stand7").unwrap();
    assert_eq!(s7["active"], 0);
    assert_eq!(s7["bridge_vids"], "2 4 100-200");
    assert_eq!(find(staged.ok(), "vmbr0").unwrap()["active"], 1);
    assert_eq!(api.sim.snapshot().staged_network["pve1"].len(), 1);

    // Two applies at once: the second reload fails with exit code 89.
    let a = api.put("/nodes/pve1/network", &[]).await;
    let b = api.put("/nodes/pve1/network", &[]).await;
    let a = api.wait_task(a.ok().as_str().unwrap()).await;
    let b = api.wait_task(b.ok().as_str().unwrap()).await;
    assert_eq!(a["type"], "srvreload");
    assert_eq!(a["exitstatus"], "OK");
    assert_eq!(b["exitstatus"], "ifreload failed: exit code 89");
    let applied = api.get("/nodes/pve1/network/stand7", &[]).await;
    assert_eq!(applied.ok()["active"], 1);
    assert!(api.sim.snapshot().staged_network.is_empty());

    // Stage a change and a deletion, then revert.
    api.put("/nodes/pve1/network/stand7", &[("type", "bridge"), ("comments", "changed")]).await.ok();
    api.delete("/nodes/pve1/network/lab", &[]).await.ok();
    assert_eq!(api.sim.snapshot().staged_network["pve1"].len(), 2);
    api.delete("/nodes/pve1/network", &[]).await.ok();
    let after = api.get("/nodes/pve1/network", &[]).await;
    assert!(find(after.ok(), "lab").is_some());
    assert_eq!(find(after.ok(), "stand7").unwrap()["comments"], "stand 7");
    let r = api.get("/nodes/pve1/network/nope0", &[]).await;
    assert_eq!(r.status, 400);
    api.sim.shutdown().await;
}
