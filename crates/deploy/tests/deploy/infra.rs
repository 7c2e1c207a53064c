//! The cluster's infrastructure code: the Terraform module for OpenNebula
//! (`deploy/terraform/opennebula`) and the Kubespray inventory and
//! group_vars (`deploy/kubespray`).
//!
//! No OpenNebula is reachable and Terraform is not installed here, so:
//! - every `.tf` file is parsed with python-hcl2 (and a broken copy is
//!   rejected), and the module's shape is read from that parse: provider
//!   pin, sensitive credentials, node counts and sizes, image, network, SSH
//!   key, the two VM groups and the inventory output;
//! - the inventory template is rendered here with Terraform's template rules
//!   (interpolation, `for` directives, `~` strip markers) and must equal the
//!   committed sample byte for byte; other cluster sizes render too;
//! - `ansible-inventory` reads the sample and the other renders with the
//!   group_vars, and shows the Kubespray groups and the add-on settings
//!   (MetalLB with strict ARP, metrics-server, the registry mirror, no
//!   ingress-nginx).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{files, repo, run, tool};

fn module() -> PathBuf {
    repo().join("deploy/terraform/opennebula")
}

fn inventory_dir() -> PathBuf {
    repo().join("deploy/kubespray/inventory/gantry")
}

// ---------------------------------------------------------------------------
// Terraform, through python-hcl2

/// python-hcl2 keeps the quotes of labels and string literals: `"name"`.
fn unquote(s: &str) -> &str {
    s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s)
}

/// Every `.tf` file of the module, parsed by `hcl2tojson`, merged by block
/// type (variable, resource, output, ...). None when hcl2tojson is missing.
fn parsed_module() -> Option<BTreeMap<String, Vec<Value>>> {
    let hcl2 = tool("hcl2tojson", "pip install python-hcl2==8.1.4")?;
    let mut blocks: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let tf = files(&module(), &[".tf"]);
    assert!(tf.len() >= 4, "the module has versions.tf, variables.tf, main.tf and outputs.tf: {tf:?}");
    for f in tf {
        let out = run(Command::new(&hcl2).arg(&f)).must(&format!("hcl2tojson {}", f.display()));
        let json: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("hcl2tojson {}: not JSON ({e})", f.display()));
        for (kind, list) in json.as_object().expect("an object") {
            blocks.entry(kind.clone()).or_default().extend(list.as_array().cloned().unwrap_or_default());
        }
    }
    Some(blocks)
}

/// `{label: body}` for the blocks of one type (`variable "x" {}` → x).
fn labelled(blocks: &BTreeMap<String, Vec<Value>>, kind: &str) -> BTreeMap<String, Value> {
    blocks
        .get(kind)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .flat_map(|o| o.iter().map(|(k, v)| (unquote(k).to_string(), v.clone())))
        .collect()
}

#[test]
fn terraform_files_parse_with_python_hcl2_and_a_broken_one_does_not() {
    let Some(hcl2) = tool("hcl2tojson", "pip install python-hcl2==8.1.4") else { return };
    let mut all = files(&module(), &[".tf", ".tfvars.example"]);
    all.sort();
    assert!(all.iter().any(|f| f.ends_with("main.tf")));
    for f in &all {
        run(Command::new(&hcl2).arg(f)).must(&format!("hcl2tojson {}", f.display()));
    }
    let dir = std::env::temp_dir().join(format!("gantry-infra-hcl-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("temp dir");
    let text = fs::read_to_string(module().join("main.tf")).expect("main.tf");
    let broken = dir.join("main.tf");
    fs::write(&broken, text.trim_end().strip_suffix('}').expect("main.tf ends with a block")).expect("write");
    let out = run(Command::new(&hcl2).arg(&broken));
    let _ = fs::remove_dir_all(&dir);
    assert!(!out.ok, "hcl2tojson accepted main.tf without its last closing brace");
}

#[test]
fn terraform_module_declares_the_provider_variables_vms_and_inventory() {
    let Some(blocks) = parsed_module() else { return };

    // The provider, pinned to a major version.
    let terraform = blocks.get("terraform").and_then(|t| t.first()).expect("a terraform block");
    let providers = terraform["required_providers"][0]["opennebula"].clone();
    assert_eq!(unquote(providers["source"].as_str().expect("source")), "OpenNebula/opennebula");
    let version = unquote(providers["version"].as_str().expect("version constraint")).to_string();
    assert!(version.starts_with("~> 1."), "pin the provider's major version, e.g. ~> 1.5: {version}");

    // Variables: credentials marked sensitive, everything the issue lists.
    let vars = labelled(&blocks, "variable");
    for name in [
        "one_endpoint",
        "one_username",
        "one_password",
        "control_plane_count",
        "control_plane_vcpu",
        "control_plane_memory_mb",
        "control_plane_disk_mb",
        "worker_count",
        "worker_vcpu",
        "worker_memory_mb",
        "worker_disk_mb",
        "image_id",
        "image_name",
        "network_id",
        "ssh_public_key",
    ] {
        let v = vars.get(name).unwrap_or_else(|| panic!("variable {name} is missing"));
        assert!(v.get("description").is_some(), "variable {name} has no description");
    }
    for (name, v) in &vars {
        let secret = ["password", "token", "secret", "username"].iter().any(|w| name.contains(w))
            || (name.contains("key") && !name.contains("public"));
        let sensitive = v.get("sensitive").and_then(Value::as_bool) == Some(true);
        assert_eq!(sensitive, secret, "variable {name}: sensitive must be {secret}");
        if secret {
            assert!(v.get("default").is_none(), "the secret {name} must not have a default");
        }
    }

    // The provider block takes the credentials from those variables.
    let provider = labelled(&blocks, "provider");
    let one = provider.get("opennebula").expect("provider \"opennebula\"");
    for (arg, var) in [("endpoint", "one_endpoint"), ("username", "one_username"), ("password", "one_password")] {
        assert_eq!(one[arg].as_str(), Some(format!("${{var.{var}}}").as_str()), "provider argument {arg}");
    }

    // Control-plane and worker VMs.
    let vms: BTreeMap<String, Value> = blocks
        .get("resource")
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("\"opennebula_virtual_machine\"").and_then(Value::as_object))
        .flat_map(|o| o.iter().map(|(k, v)| (unquote(k).to_string(), v.clone())))
        .collect();
    for (vm, count) in [("control_plane", "control_plane_count"), ("worker", "worker_count")] {
        let r = vms.get(vm).unwrap_or_else(|| panic!("resource opennebula_virtual_machine.{vm}"));
        assert_eq!(r["count"].as_str(), Some(format!("${{var.{count}}}").as_str()), "{vm} count");
        for arg in ["name", "cpu", "vcpu", "memory", "context"] {
            assert!(r.get(arg).is_some(), "{vm} lacks {arg}");
        }
        assert!(r["disk"][0]["image_id"].as_str().is_some_and(|s| s.contains("image_id")), "{vm}: disk from the image");
        assert_eq!(r["nic"][0]["network_id"].as_str(), Some("${var.network_id}"), "{vm}: NIC on the network");
        assert!(r["memory"].as_str().is_some_and(|s| s.contains(if vm == "worker" {
            "worker_memory_mb"
        } else {
            "control_plane_memory_mb"
        })));
    }
    let locals = blocks.get("locals").and_then(|l| l.first()).expect("locals");
    assert_eq!(
        locals["context"]["SSH_PUBLIC_KEY"].as_str(),
        Some("${var.ssh_public_key}"),
        "the SSH key reaches the VMs through the context"
    );
    assert_eq!(unquote(locals["context"]["NETWORK"].as_str().unwrap_or_default()), "YES");

    // The inventory output: templatefile over the VMs, with exactly the
    // variables the template uses.
    let outputs = labelled(&blocks, "output");
    let inventory = outputs.get("kubespray_inventory").expect("output kubespray_inventory")["value"].as_str().expect("value").to_string();
    assert!(inventory.contains("templatefile(") && inventory.contains("/templates/inventory.ini.tftpl"), "{inventory}");
    for key in TEMPLATE_VARS {
        assert!(inventory.contains(&format!("{key} =")), "templatefile does not pass {key}: {inventory}");
    }
    assert!(inventory.contains("opennebula_virtual_machine.control_plane") && inventory.contains("opennebula_virtual_machine.worker"));
    for out in ["control_plane_ips", "worker_ips"] {
        assert!(outputs.contains_key(out), "output {out}");
    }
}

// ---------------------------------------------------------------------------
// The inventory template, rendered with Terraform's template rules

const TEMPLATE_VARS: [&str; 3] = ["ssh_user", "control_plane", "workers"];

/// A template variable: a string or a list of objects with string attributes.
enum Var {
    Str(String),
    List(Vec<BTreeMap<String, String>>),
}

enum Node {
    Text(String),
    Interp(String),
    For { var: String, list: String, body: Vec<Node> },
}

/// Parses the subset of Terraform's template language the inventory uses:
/// `${name}`, `${name.attr}`, `%{ for x in list }`…`%{ endfor }`, the `~`
/// strip markers (remove all whitespace on that side, newlines included)
/// and the `$${` / `%%{` escapes. Anything else panics.
fn parse_template(src: &str) -> Vec<Node> {
    fn push_text(out: &mut Vec<Node>, text: String) {
        if let Some(Node::Text(prev)) = out.last_mut() {
            prev.push_str(&text);
        } else {
            out.push(Node::Text(text));
        }
    }
    // One frame per open `for` (its variable and list), plus the top level.
    type Frame = (Option<(String, String)>, Vec<Node>);
    let mut stack: Vec<Frame> = vec![(None, Vec::new())];
    let mut rest = src;
    let mut strip_next = false;
    while !rest.is_empty() {
        let next = [rest.find("${"), rest.find("%{")].into_iter().flatten().min();
        let (text, tail) = match next {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        let mut text = text.to_string();
        if strip_next {
            text = text.trim_start().to_string();
        }
        strip_next = false;
        if tail.is_empty() {
            push_text(&mut stack.last_mut().expect("frame").1, text);
            break;
        }
        // Escapes: `$${` and `%%{` are literal.
        if text.ends_with('$') && tail.starts_with("${") || text.ends_with('%') && tail.starts_with("%{") {
            text.push('{');
            push_text(&mut stack.last_mut().expect("frame").1, text);
            rest = &tail[2..];
            continue;
        }
        let close = tail.find('}').unwrap_or_else(|| panic!("unclosed template sequence: {tail}"));
        let mut inner = &tail[2..close];
        if let Some(s) = inner.strip_prefix('~') {
            text = text.trim_end().to_string();
            inner = s;
        }
        if let Some(s) = inner.strip_suffix('~') {
            strip_next = true;
            inner = s;
        }
        let inner = inner.trim();
        push_text(&mut stack.last_mut().expect("frame").1, text);
        if tail.starts_with("${") {
            stack.last_mut().expect("frame").1.push(Node::Interp(inner.to_string()));
        } else {
            let words: Vec<&str> = inner.split_whitespace().collect();
            match words.as_slice() {
                ["for", var, "in", list] => stack.push((Some((var.to_string(), list.to_string())), Vec::new())),
                ["endfor"] => {
                    let (header, body) = stack.pop().expect("frame");
                    let (var, list) = header.expect("endfor without for");
                    stack.last_mut().expect("an enclosing frame").1.push(Node::For { var, list, body });
                }
                _ => panic!("unsupported template directive: %{{{inner}}}"),
            }
        }
        rest = &tail[close + 1..];
    }
    assert_eq!(stack.len(), 1, "a for without endfor");
    stack.pop().expect("frame").1
}

fn render_nodes(nodes: &[Node], vars: &BTreeMap<String, Var>, item: Option<(&str, &BTreeMap<String, String>)>, out: &mut String) {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Interp(expr) => {
                let value = match expr.split_once('.') {
                    Some((obj, attr)) => match item {
                        Some((name, fields)) if name == obj => {
                            fields.get(attr).unwrap_or_else(|| panic!("{obj} has no attribute {attr}")).clone()
                        }
                        _ => panic!("unknown object in ${{{expr}}}"),
                    },
                    None => match vars.get(expr.as_str()) {
                        Some(Var::Str(s)) => s.clone(),
                        _ => panic!("the template uses ${{{expr}}}, which templatefile does not pass as a string"),
                    },
                };
                out.push_str(&value);
            }
            Node::For { var, list, body } => {
                let Some(Var::List(items)) = vars.get(list) else {
                    panic!("the template loops over {list}, which templatefile does not pass as a list")
                };
                for it in items {
                    render_nodes(body, vars, Some((var, it)), out);
                }
            }
        }
    }
}

/// Renders the inventory template for `cp` control-plane nodes and `workers`
/// workers, named and numbered the way main.tf names them, on 192.0.2.0/24.
fn render_inventory(cp: usize, workers: usize) -> String {
    let template = fs::read_to_string(module().join("templates/inventory.ini.tftpl")).expect("inventory template");
    let node = |name: String, ip: String, index: Option<usize>| {
        let mut m = BTreeMap::from([("name".to_string(), name), ("ip".to_string(), ip)]);
        if let Some(i) = index {
            m.insert("index".to_string(), i.to_string());
        }
        m
    };
    let vars = BTreeMap::from([
        ("ssh_user".to_string(), Var::Str("root".to_string())),
        (
            "control_plane".to_string(),
            Var::List((1..=cp).map(|i| node(format!("gantry-cp-{i}"), format!("192.0.2.{}", 10 + i), Some(i))).collect()),
        ),
        (
            "workers".to_string(),
            Var::List((1..=workers).map(|i| node(format!("gantry-worker-{i}"), format!("192.0.2.{}", 20 + i), None)).collect()),
        ),
    ]);
    assert_eq!(vars.keys().map(String::as_str).collect::<Vec<_>>(), {
        let mut v = TEMPLATE_VARS.to_vec();
        v.sort();
        v
    });
    let mut out = String::new();
    render_nodes(&parse_template(&template), &vars, None, &mut out);
    out
}

#[test]
fn template_renderer_follows_terraforms_strip_markers_and_escapes() {
    let vars = BTreeMap::from([
        ("s".to_string(), Var::Str("x".to_string())),
        (
            "l".to_string(),
            Var::List(vec![BTreeMap::from([("a".to_string(), "1".to_string())]), BTreeMap::from([("a".to_string(), "2".to_string())])]),
        ),
    ]);
    let render = |src: &str| {
        let mut out = String::new();
        render_nodes(&parse_template(src), &vars, None, &mut out);
        out
    };
    // The examples of Terraform's "Template Directives" documentation, in miniature.
    assert_eq!(render("%{ for i in l ~}\nv=${i.a}\n%{ endfor ~}\nend"), "v=1\nv=2\nend");
    assert_eq!(render("%{ for i in l }\nv=${i.a}\n%{ endfor }\nend"), "\nv=1\n\nv=2\n\nend");
    assert_eq!(render("a  ${~ s ~}  b"), "axb");
    assert_eq!(render("$${s} %%{ for }"), "${s} %{ for }");
}

#[test]
fn inventory_template_renders_the_committed_sample() {
    let sample = fs::read_to_string(inventory_dir().join("inventory.ini")).expect("the committed sample inventory");
    let rendered = render_inventory(3, 2);
    assert_eq!(
        rendered, sample,
        "deploy/kubespray/inventory/gantry/inventory.ini must be exactly what the template renders for 3 control-plane nodes and 2 workers"
    );
}

/// ansible-inventory on `inventory` (group_vars next to it), as JSON.
fn ansible_list(bin: &Path, inventory: &Path) -> Value {
    let out = run(Command::new(bin).arg("-i").arg(inventory).arg("--list").env("ANSIBLE_INVENTORY_UNPARSED_FAILED", "true"))
        .must(&format!("ansible-inventory --list {}", inventory.display()));
    serde_json::from_str(&out.stdout).expect("ansible-inventory --list prints JSON")
}

fn hosts_of(list: &Value, group: &str) -> Vec<String> {
    let mut hosts: Vec<String> =
        list[group]["hosts"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect();
    for child in list[group]["children"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        hosts.extend(hosts_of(list, child));
    }
    hosts.sort();
    hosts.dedup();
    hosts
}

/// A throwaway inventory directory: `inventory.ini` with `content`, and a
/// copy of the committed group_vars.
fn scratch_inventory(tag: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gantry-infra-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    for f in files(&inventory_dir().join("group_vars"), &[".yml", ".yaml"]) {
        let rel = f.strip_prefix(inventory_dir()).expect("under the inventory");
        let to = dir.join(rel);
        fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        fs::copy(&f, &to).expect("copy group_vars");
    }
    fs::write(dir.join("inventory.ini"), content).expect("write inventory");
    dir
}

#[test]
fn ansible_inventory_shows_the_kubespray_groups_for_every_cluster_size() {
    let Some(ai) = tool("ansible-inventory", "apt-get install ansible") else { return };

    let graph = run(Command::new(&ai)
        .arg("-i")
        .arg(inventory_dir().join("inventory.ini"))
        .arg("--graph")
        .env("ANSIBLE_INVENTORY_UNPARSED_FAILED", "true"))
    .must("ansible-inventory --graph on the sample");
    for group in ["@kube_control_plane:", "@kube_node:", "@etcd:", "@k8s_cluster:"] {
        assert!(graph.stdout.contains(group), "--graph lacks {group}:\n{}", graph.stdout);
    }

    for (cp, workers) in [(3, 2), (1, 1), (5, 3)] {
        let dir = scratch_inventory(&format!("{cp}-{workers}"), &render_inventory(cp, workers));
        let list = ansible_list(&ai, &dir.join("inventory.ini"));
        let cps: Vec<String> = (1..=cp).map(|i| format!("gantry-cp-{i}")).collect();
        let ws: Vec<String> = (1..=workers).map(|i| format!("gantry-worker-{i}")).collect();
        let mut everyone = [cps.clone(), ws.clone()].concat();
        everyone.sort();
        assert_eq!(hosts_of(&list, "kube_control_plane"), cps, "{cp}+{workers}: kube_control_plane");
        assert_eq!(hosts_of(&list, "etcd"), cps, "{cp}+{workers}: etcd runs on the control plane");
        assert_eq!(hosts_of(&list, "kube_node"), ws, "{cp}+{workers}: kube_node");
        assert_eq!(hosts_of(&list, "k8s_cluster"), everyone, "{cp}+{workers}: k8s_cluster holds every node");
        let hostvars = &list["_meta"]["hostvars"];
        assert_eq!(hostvars["gantry-cp-1"]["ansible_host"], "192.0.2.11");
        assert_eq!(hostvars["gantry-cp-1"]["etcd_member_name"], "etcd1");
        assert_eq!(hostvars[format!("gantry-worker-{workers}")]["ip"], format!("192.0.2.{}", 20 + workers));
        let _ = fs::remove_dir_all(&dir);
    }
}

#[test]
fn group_vars_enable_metallb_metrics_server_and_the_registry_mirror() {
    let Some(ai) = tool("ansible-inventory", "apt-get install ansible") else { return };
    let list = ansible_list(&ai, &inventory_dir().join("inventory.ini"));
    for host in ["gantry-cp-1", "gantry-worker-2"] {
        let v = &list["_meta"]["hostvars"][host];
        assert_eq!(v["metallb_enabled"], true, "{host}: MetalLB");
        assert_eq!(v["metallb_speaker_enabled"], true, "{host}: MetalLB speaker");
        assert_eq!(v["kube_proxy_strict_arp"], true, "{host}: MetalLB in layer 2 needs strict ARP");
        assert_eq!(v["metrics_server_enabled"], true, "{host}: the HPA needs metrics-server");
        assert_eq!(v["ingress_nginx_enabled"], false, "{host}: the retired ingress-nginx add-on stays off");
        assert_eq!(v["gateway_api_enabled"], true, "{host}: the Gateway API CRDs");
        assert_eq!(v["container_manager"], "containerd");

        let pools = v["metallb_config"]["address_pools"].as_object().expect("metallb_config.address_pools");
        assert!(!pools.is_empty(), "{host}: MetalLB needs an address pool");
        for (name, pool) in pools {
            assert!(pool["ip_range"].as_array().is_some_and(|r| !r.is_empty()), "{host}: pool {name} has no ip_range");
        }
        let layer2: Vec<&str> =
            v["metallb_config"]["layer2"].as_array().expect("metallb_config.layer2").iter().filter_map(Value::as_str).collect();
        assert!(layer2.iter().all(|p| pools.contains_key(*p)) && !layer2.is_empty(), "{host}: layer2 announces defined pools: {layer2:?}");

        let mirrors = v["containerd_registries_mirrors"].as_array().expect("containerd_registries_mirrors");
        assert!(!mirrors.is_empty(), "{host}: the local registry as a containerd mirror");
        for m in mirrors {
            let prefix = m["prefix"].as_str().expect("prefix");
            let hosts = m["mirrors"].as_array().expect("mirrors");
            assert!(!hosts.is_empty(), "{prefix}: no mirror hosts");
            for h in hosts {
                let url = h["host"].as_str().expect("host");
                assert!(url.starts_with("http://") || url.starts_with("https://"), "{prefix}: mirror host {url} needs a scheme");
                assert!(
                    h["capabilities"].as_array().is_some_and(|c| c.iter().any(|x| x == "pull")),
                    "{prefix}: the mirror must allow pull"
                );
            }
        }
    }

    // A broken group_vars file is an error, not silently ignored.
    let dir = scratch_inventory("broken", &fs::read_to_string(inventory_dir().join("inventory.ini")).expect("sample"));
    fs::write(dir.join("group_vars/k8s_cluster/addons.yml"), "metallb_enabled: [true\n").expect("write");
    let out = run(Command::new(&ai).arg("-i").arg(dir.join("inventory.ini")).arg("--list"));
    let _ = fs::remove_dir_all(&dir);
    assert!(!out.ok, "ansible-inventory accepted broken group_vars:\n{}", out.all());
}

#[test]
fn kubespray_pin_keeps_the_ingress_settings_valid() {
    let pin = fs::read_to_string(repo().join("deploy/kubespray/KUBESPRAY_VERSION")).expect("deploy/kubespray/KUBESPRAY_VERSION");
    let pin = pin.trim();
    let parts: Vec<u32> = pin
        .strip_prefix('v')
        .unwrap_or_else(|| panic!("a tag like v2.30.0: {pin}"))
        .split('.')
        .map(|p| p.parse().expect("number"))
        .collect();
    assert_eq!(parts.len(), 3, "a full tag like v2.30.0: {pin}");
    let addons = fs::read_to_string(inventory_dir().join("group_vars/k8s_cluster/addons.yml")).expect("addons.yml");
    // Kubespray v2.31 removed the ingress-nginx add-on, and its playbooks
    // abort on removed variables: the setting may only stay while the pin is
    // v2.30 or older.
    if addons.lines().any(|l| l.trim_start().starts_with("ingress_nginx_")) {
        assert!(
            (parts[0], parts[1]) <= (2, 30),
            "Kubespray {pin} removed ingress-nginx: drop the ingress_nginx_* settings from addons.yml"
        );
    }
    assert!(
        (parts[0], parts[1]) >= (2, 27),
        "Kubespray {pin} predates the metallb_config and containerd_registries_mirrors formats used here"
    );

    let docs = fs::read_to_string(repo().join("docs/deploy/infrastructure.md")).expect("docs/deploy/infrastructure.md");
    assert!(docs.contains(pin), "docs/deploy/infrastructure.md must name the pinned Kubespray {pin}");
}

#[test]
fn infrastructure_docs_cover_every_variable_and_say_what_was_not_run() {
    let docs = fs::read_to_string(repo().join("docs/deploy/infrastructure.md")).expect("docs/deploy/infrastructure.md");
    let vars = fs::read_to_string(module().join("variables.tf")).expect("variables.tf");
    for line in vars.lines() {
        if let Some(name) = line.strip_prefix("variable \"").and_then(|r| r.split('"').next()) {
            assert!(docs.contains(&format!("`{name}`")), "docs/deploy/infrastructure.md does not document the variable `{name}`");
        }
    }
    for must in [
        "not been applied",
        "OpenNebula",
        "kube_proxy_strict_arp",
        "metrics_server_enabled",
        "containerd_registries_mirrors",
        "Gateway API",
    ] {
        assert!(docs.contains(must), "docs/deploy/infrastructure.md should mention {must:?}");
    }
}
