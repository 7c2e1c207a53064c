//! Route table vs schema, and parameter validation (offline and over HTTP).

use std::collections::BTreeMap;

use gantry_pvesim::schema::{self, MSG_MISSING, MSG_UNKNOWN};

use crate::helpers::start;

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn every_implemented_route_exists_in_the_schema() {
    let s = schema::schema().unwrap();
    let routes = gantry_pvesim::implemented();
    assert!(routes.len() > 30);
    for (method, path) in routes {
        assert!(s.method(method, path).is_some(), "{method} {path} is not in the schema");
    }
    assert!(s.endpoints().len() > 500, "schema looks truncated");
}

#[test]
fn net_property_string_is_checked() {
    let path = "/nodes/pve1/qemu/100/config";
    assert!(schema::validate("PUT", path, &params(&[("net0", "virtio,bridge=hq,tag=100")])).is_ok());
    assert!(schema::validate("PUT", path, &params(&[("net0", "virtio=BC:24:11:00:00:01,bridge=hq,firewall=1")])).is_ok());
    let err = schema::validate("PUT", path, &params(&[("net0", "virtio,bridge=hq,tag=5000")])).unwrap_err();
    assert!(err["net0"].contains("tag"), "{err:?}");
    let err = schema::validate("PUT", path, &params(&[("net0", "virtio,bridge=hq,vlan=5")])).unwrap_err();
    assert!(err.contains_key("net0"));
    let err = schema::validate("PUT", path, &params(&[("net0", "bogus,bridge=hq")])).unwrap_err();
    assert!(err.contains_key("net0"));
    // Indexed names beyond the schema's range are unknown.
    let err = schema::validate("PUT", path, &params(&[("net99", "virtio")])).unwrap_err();
    assert_eq!(err["net99"], MSG_UNKNOWN);
}

#[test]
fn types_enums_and_required_follow_perl_rules() {
    let cfg = "/nodes/pve1/qemu/100/config";
    // Numbers and booleans arrive as strings, booleans in every Perl spelling.
    assert!(schema::validate("PUT", cfg, &params(&[("cores", "4"), ("onboot", "yes"), ("numa", "on"), ("memory", "2048")])).is_ok());
    let err = schema::validate("PUT", cfg, &params(&[("cores", "four"), ("onboot", "maybe")])).unwrap_err();
    assert_eq!(err["cores"], "type check ('integer') failed - got 'four'");
    assert_eq!(err["onboot"], "type check ('boolean') failed - got 'maybe'");
    let err = schema::validate("PUT", cfg, &params(&[("cores", "0")])).unwrap_err();
    assert_eq!(err["cores"], "value must have a minimum value of 1");
    let err = schema::validate("GET", "/cluster/resources", &params(&[("type", "qemu")])).unwrap_err();
    assert!(err["type"].starts_with("value 'qemu' does not have a value in the enumeration"));
    let err = schema::validate("POST", "/nodes/pve1/qemu/9000/clone", &params(&[])).unwrap_err();
    assert_eq!(err["newid"], MSG_MISSING);
    let err = schema::validate("POST", "/nodes/pve1/qemu/9000/clone", &params(&[("newid", "101"), ("colour", "red")])).unwrap_err();
    assert_eq!(err["colour"], MSG_UNKNOWN);
    // Path placeholders are validated too.
    let err = schema::validate("GET", "/nodes/pve1/qemu/12/config", &params(&[])).unwrap_err();
    assert!(err.contains_key("vmid"));
    // Formats Gantry sends.
    assert!(schema::validate("POST", "/pools", &params(&[("poolid", "stand-07")])).is_ok());
    assert!(schema::validate("POST", "/pools", &params(&[("poolid", "bad pool")])).is_err());
    assert!(schema::validate("POST", "/access/users", &params(&[("userid", "alice@pve"), ("email", "")])).is_ok());
    assert!(schema::validate("POST", "/access/users", &params(&[("userid", "alice")])).is_err());
    assert!(
        schema::validate("POST", "/nodes/pve1/network", &params(&[("iface", "hq"), ("type", "bridge"), ("bridge_vids", "2 4 100-200")]))
            .is_ok()
    );
    assert!(
        schema::validate("POST", "/nodes/pve1/network", &params(&[("iface", "hq"), ("type", "bridge"), ("bridge_vids", "5000")])).is_err()
    );
    assert!(
        schema::validate("PUT", "/access/acl", &params(&[("path", "/pool/x"), ("roles", "PVEVMUser,PVEPoolUser"), ("users", "a@pve")]))
            .is_ok()
    );
    // Unknown paths and methods.
    assert!(schema::validate("GET", "/nope", &params(&[])).unwrap_err()[""].contains("not implemented"));
    assert!(schema::validate("PATCH", "/version", &params(&[])).is_err());
}

#[tokio::test]
async fn http_validation_errors_have_the_proxmox_shape_and_are_recorded() {
    let api = start().await;
    let r = api.put("/nodes/pve1/qemu/100/config", &[("net0", "virtio,bridge=hq,tag=5000"), ("bogus", "1")]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.message(), "Parameter verification failed.\n");
    assert!(r.body["data"].is_null());
    assert!(r.body["errors"]["net0"].as_str().unwrap().contains("4094"));
    assert_eq!(r.body["errors"]["bogus"], MSG_UNKNOWN);
    let ok = api.put("/nodes/pve1/qemu/100/config", &[("net0", "virtio,bridge=hq,tag=100")]).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.body.get("errors").is_none());
    let r = api.get("/nodes/pve1/nothing", &[]).await;
    assert_eq!(r.status, 501);
    assert_eq!(r.message(), "Method 'GET /nodes/pve1/nothing' not implemented\n");
    let violations = api.sim.schema_violations();
    assert_eq!(violations.len(), 2, "{violations:?}");
    assert_eq!(violations[0].path, "/nodes/pve1/qemu/100/config");
    assert!(violations[0].schema_errors.contains_key("bogus"));
    let all = api.sim.requests();
    assert_eq!(all.len(), 3);
    assert_eq!(all[1].auth, "token");
    assert_eq!(all[1].status, 200);
    assert_eq!(api.sim.stats().by_route.get("PUT /nodes/{node}/qemu/{vmid}/config"), Some(&2));
    // JSON bodies with real booleans and numbers are accepted like form bodies.
    let r = api
        .http
        .put(format!("{}/api2/json/nodes/pve1/qemu/100/config", api.base))
        .header("Authorization", format!("PVEAPIToken={}={}", crate::helpers::ROOT_TOKEN, gantry_pvesim::DEMO_TOKEN_SECRET))
        .json(&serde_json::json!({"cores": 4, "onboot": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cfg = api.get("/nodes/pve1/qemu/100/config", &[]).await;
    assert_eq!(cfg.ok()["cores"], 4);
    assert_eq!(cfg.ok()["onboot"], 1);
    api.sim.shutdown().await;
}
