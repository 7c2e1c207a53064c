//! Request validation against the official Proxmox VE API schema (pve-docs 9.1.3 `apidata.json`).
//!
//! The simulator runs every `/api2/json` request through [`check`] before any handler sees it,
//! and other crates can call [`validate`] or [`check`] offline to prove that the requests they
//! build would pass Proxmox's own parameter verification. Messages follow `PVE::JSONSchema`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde_json::{Map, Value};

static APIDATA: &str = include_str!("../schema/apidata.json");

/// Message for a parameter the schema does not declare.
pub const MSG_UNKNOWN: &str = "property is not defined in schema and the schema does not allow additional properties";
/// Message for a required parameter that is absent.
pub const MSG_MISSING: &str = "property is missing and it is not optional";

/// Why a request does not pass schema validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// No such path, or the path has no such method (Proxmox answers 501).
    #[error("Method '{method} {path}' not implemented")]
    NotImplemented {
        /// HTTP method.
        method: String,
        /// Request path below `/api2/json`.
        path: String,
    },
    /// Parameter errors keyed by parameter name (Proxmox answers 400).
    #[error("Parameter verification failed.")]
    Params(BTreeMap<String, String>),
    /// The embedded schema could not be parsed.
    #[error("schema unavailable: {0}")]
    Unavailable(String),
}

/// A request path resolved against the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// The schema path with placeholders (`/nodes/{node}/qemu/{vmid}/config`).
    pub template: String,
    /// Values of the placeholders, percent-decoded.
    pub path_params: BTreeMap<String, String>,
}

/// The parsed schema: a trie of path segments with the method definitions at each node.
#[derive(Debug, Default)]
pub struct Schema {
    root: PathNode,
    methods: BTreeMap<String, BTreeMap<String, Value>>,
}

#[derive(Debug, Default)]
struct PathNode {
    literal: BTreeMap<String, PathNode>,
    placeholder: Option<(String, Box<PathNode>)>,
    template: Option<String>,
}

impl Schema {
    fn parse(text: &str) -> Result<Self, String> {
        let trees: Vec<Value> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut schema = Schema::default();
        let mut stack: Vec<&Value> = trees.iter().collect();
        while let Some(node) = stack.pop() {
            if let Some(path) = node.get("path").and_then(Value::as_str) {
                let mut methods = BTreeMap::new();
                if let Some(info) = node.get("info").and_then(Value::as_object) {
                    for (method, def) in info {
                        methods.insert(method.clone(), def.clone());
                    }
                }
                schema.insert(path);
                schema.methods.insert(path.to_string(), methods);
            }
            if let Some(children) = node.get("children").and_then(Value::as_array) {
                stack.extend(children.iter());
            }
        }
        Ok(schema)
    }

    fn insert(&mut self, template: &str) {
        let mut node = &mut self.root;
        for seg in template.split('/').filter(|s| !s.is_empty()) {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let slot = node.placeholder.get_or_insert_with(|| (name.to_string(), Box::default()));
                node = &mut slot.1;
            } else {
                node = node.literal.entry(seg.to_string()).or_default();
            }
        }
        node.template = Some(template.to_string());
    }

    fn resolve(&self, path: &str) -> Option<RouteMatch> {
        let mut node = &self.root;
        let mut path_params = BTreeMap::new();
        for raw in path.split('/').filter(|s| !s.is_empty()) {
            let seg = percent_decode(raw);
            if let Some(next) = node.literal.get(&seg) {
                node = next;
            } else if let Some((name, next)) = &node.placeholder {
                path_params.insert(name.clone(), seg);
                node = next;
            } else {
                return None;
            }
        }
        node.template.clone().map(|template| RouteMatch { template, path_params })
    }

    /// The definition (`{parameters, returns, permissions, ...}`) of a method on a template.
    pub fn method(&self, method: &str, template: &str) -> Option<&Value> {
        self.methods.get(template).and_then(|m| m.get(method))
    }

    /// Every `(method, template)` pair in the schema.
    pub fn endpoints(&self) -> Vec<(String, String)> {
        self.methods.iter().flat_map(|(t, ms)| ms.keys().map(move |m| (m.clone(), t.clone()))).collect()
    }
}

/// The embedded schema, parsed once.
pub fn schema() -> Result<&'static Schema, ValidationError> {
    static SCHEMA: OnceLock<Result<Schema, String>> = OnceLock::new();
    SCHEMA.get_or_init(|| Schema::parse(APIDATA)).as_ref().map_err(|e| ValidationError::Unavailable(e.clone()))
}

/// Resolves a path (below `/api2/json`) and method against the schema.
pub fn lookup(method: &str, path: &str) -> Result<RouteMatch, ValidationError> {
    let schema = schema()?;
    let not_implemented = || ValidationError::NotImplemented { method: method.to_string(), path: path.to_string() };
    let route = schema.resolve(path).ok_or_else(not_implemented)?;
    schema.method(method, &route.template).ok_or_else(not_implemented)?;
    Ok(route)
}

/// Validates a request: path, method, path placeholders and parameters.
///
/// `params` are the query/body parameters; path placeholders are merged in the way Proxmox does
/// before checking. Returns the resolved route.
pub fn check(method: &str, path: &str, params: &BTreeMap<String, String>) -> Result<RouteMatch, ValidationError> {
    let route = lookup(method, path)?;
    let schema = schema()?;
    let def = schema
        .method(method, &route.template)
        .ok_or_else(|| ValidationError::NotImplemented { method: method.to_string(), path: path.to_string() })?;
    let mut all = params.clone();
    for (k, v) in &route.path_params {
        all.insert(k.clone(), v.clone());
    }
    let errors = check_params(def, &all);
    if errors.is_empty() { Ok(route) } else { Err(ValidationError::Params(errors)) }
}

/// Validates a request; `Err` maps parameter names to Proxmox's messages.
///
/// Unknown paths or methods yield a single entry under the key `""`.
pub fn validate(method: &str, path: &str, params: &BTreeMap<String, String>) -> Result<(), BTreeMap<String, String>> {
    match check(method, path, params) {
        Ok(_) => Ok(()),
        Err(ValidationError::Params(errors)) => Err(errors),
        Err(other) => Err(BTreeMap::from([(String::new(), other.to_string())])),
    }
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty() && s != "0",
        _ => false,
    }
}

/// Highest index accepted for an indexed property (`net[n]` → `net0..net31`).
fn max_index(base: &str) -> u32 {
    match base {
        "ide" => 3,
        "sata" => 5,
        "scsi" => 30,
        "virtio" => 15,
        "unused" => 255,
        "hostpci" | "usb" => 15,
        "serial" | "parallel" => 3,
        "numa" => 7,
        "mp" => 255,
        _ => 31,
    }
}

/// Finds the schema property for a parameter name, resolving indexed names.
fn property<'a>(props: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(p) = props.get(name) {
        return Some(p);
    }
    let split = name.trim_end_matches(|c: char| c.is_ascii_digit());
    let digits = &name[split.len()..];
    if split.is_empty() || digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    let idx: u32 = digits.parse().ok()?;
    if idx > max_index(split) {
        return None;
    }
    props.get(&format!("{split}[n]"))
}

fn check_params(def: &Value, params: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut errors = BTreeMap::new();
    let empty = Map::new();
    let parameters = def.get("parameters");
    let props = parameters.and_then(|p| p.get("properties")).and_then(Value::as_object).unwrap_or(&empty);
    let additional = parameters.is_some_and(|p| truthy(p.get("additionalProperties")));
    for (name, value) in params {
        match property(props, name) {
            Some(prop) => {
                if let Err(e) = check_value(prop, value) {
                    errors.insert(name.clone(), e);
                } else if let Some(req) = prop.get("requires").and_then(Value::as_str)
                    && !params.contains_key(req)
                {
                    errors.insert(req.to_string(), format!("missing property - '{name}' requires this property"));
                }
            }
            None if additional => {}
            None => {
                errors.insert(name.clone(), MSG_UNKNOWN.to_string());
            }
        }
    }
    for (name, prop) in props {
        if name.ends_with("[n]") || truthy(prop.get("optional")) {
            continue;
        }
        if !params.contains_key(name) {
            errors.insert(name.clone(), MSG_MISSING.to_string());
        }
    }
    errors
}

/// Perl accepts these spellings for booleans.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { format!("{n}") }
}

/// Checks one value against a property schema.
pub fn check_value(prop: &Value, value: &str) -> Result<(), String> {
    let kind = prop.get("type").and_then(Value::as_str).unwrap_or("string");
    let mut number = None;
    match kind {
        "integer" => {
            let t = value.trim();
            let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("type check ('integer') failed - got '{value}'"));
            }
            number = t.parse::<f64>().ok();
        }
        "number" => match value.trim().parse::<f64>() {
            Ok(n) if n.is_finite() => number = Some(n),
            _ => return Err(format!("type check ('number') failed - got '{value}'")),
        },
        "boolean" if parse_bool(value).is_none() => {
            return Err(format!("type check ('boolean') failed - got '{value}'"));
        }
        _ => {}
    }
    if let Some(list) = prop.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = list
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        if !names.iter().any(|n| n == value) {
            return Err(format!("value '{value}' does not have a value in the enumeration '{}'", names.join(", ")));
        }
    }
    if let Some(n) = number {
        if let Some(min) = prop.get("minimum").and_then(as_f64)
            && n < min
        {
            return Err(format!("value must have a minimum value of {}", fmt_num(min)));
        }
        if let Some(max) = prop.get("maximum").and_then(as_f64)
            && n > max
        {
            return Err(format!("value may not exceed {}", fmt_num(max)));
        }
    }
    if kind == "string" {
        let len = value.chars().count() as f64;
        if let Some(max) = prop.get("maxLength").and_then(as_f64)
            && len > max
        {
            return Err(format!("value may only be {} characters long", fmt_num(max)));
        }
        if let Some(min) = prop.get("minLength").and_then(as_f64)
            && len < min
        {
            return Err(format!("value must be at least {} characters long", fmt_num(min)));
        }
    }
    if let Some(pattern) = prop.get("pattern").and_then(Value::as_str)
        && let Some(re) = anchored(pattern)
        && !re.is_match(value)
    {
        return Err("value does not match the regex pattern".to_string());
    }
    match prop.get("format") {
        Some(Value::String(name)) => check_format(name, value),
        Some(Value::Object(fmt)) => check_property_string(fmt, value),
        _ => Ok(()),
    }
}

/// Compiles a schema (Perl) pattern anchored like `PVE::JSONSchema` does; `None` if Rust's
/// regex dialect cannot express it (then the pattern is not enforced).
fn anchored(pattern: &str) -> Option<Regex> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = cache.lock().ok()?;
    map.entry(pattern.to_string())
        .or_insert_with(|| {
            let rust = pattern.replace("(?^:", "(?:").replace("{,", "{0,");
            Regex::new(&format!("^(?:{rust})$")).ok()
        })
        .clone()
}

fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(|c: char| c == ',' || c == ';' || c == '\0' || c.is_whitespace()).filter(|s| !s.is_empty())
}

fn all_match(value: &str, pattern: &str) -> bool {
    anchored(pattern).is_some_and(|re| split_list(value).all(|item| re.is_match(item)))
}

fn one_match(value: &str, pattern: &str) -> bool {
    anchored(pattern).is_some_and(|re| re.is_match(value))
}

const RE_NODE: &str = r"[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?";
const RE_STORAGE: &str = r"[a-z][a-z0-9\-_.]*[a-z0-9]";
const RE_USERID: &str = r"[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+";
const RE_TOKENID: &str = r"[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+![A-Za-z][A-Za-z0-9.\-_]+";
const RE_CONFIGID: &str = r"[a-z][a-z0-9_]+";
const RE_ROLEID: &str = r"[A-Za-z0-9.\-_]+";
const RE_IFACE: &str = r"[a-zA-Z][a-zA-Z0-9_]{1,20}([:.]\d+)?";
const RE_DNS: &str = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?\.)*[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?";
const RE_POOL: &str = r"[A-Za-z0-9.\-_]+(?:/[A-Za-z0-9.\-_]+){0,2}";
const RE_TAG: &str = r"[a-zA-Z0-9_][a-zA-Z0-9_\-+.]*";
const RE_MAC: &str = r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}";
const RE_VOLUME: &str = r"[a-z][a-z0-9\-_.]*[a-z0-9]:.+";
const RE_EMAIL: &str = r"[\w+\-~]+(?:\.[\w+\-~]+)*@[a-zA-Z0-9\-]+(?:\.[a-zA-Z0-9\-]+)*";

fn vlan_range_ok(item: &str) -> bool {
    let ok = |s: &str| s.parse::<u32>().is_ok_and(|n| (1..=4094).contains(&n));
    match item.split_once('-') {
        Some((a, b)) => ok(a) && ok(b) && a.parse::<u32>().ok() <= b.parse::<u32>().ok(),
        None => ok(item),
    }
}

fn cidr_ok(value: &str, v4: bool, v6: bool) -> bool {
    let Some((ip, len)) = value.split_once('/') else {
        return false;
    };
    let Ok(len) = len.parse::<u8>() else {
        return false;
    };
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => v4 && len <= 32,
        Ok(IpAddr::V6(_)) => v6 && len <= 128,
        Err(_) => false,
    }
}

/// Checks a named string format (`pve-node`, `pve-vmid`, ...). Formats the simulator does not
/// know are accepted, so an unknown format never rejects a valid request.
pub fn check_format(name: &str, value: &str) -> Result<(), String> {
    let ok = match name {
        "pve-node" => one_match(value, RE_NODE),
        "pve-node-list" => all_match(value, RE_NODE),
        "pve-vmid" => value.parse::<u64>().is_ok_and(|n| (100..=999_999_999).contains(&n)),
        "pve-vmid-list" => split_list(value).all(|v| v.parse::<u64>().is_ok_and(|n| (100..=999_999_999).contains(&n))),
        "pve-storage-id" => one_match(value, RE_STORAGE),
        "pve-storage-id-list" => all_match(value, RE_STORAGE),
        "pve-poolid" => one_match(value, RE_POOL),
        "pve-userid" => one_match(value, RE_USERID) && value.len() <= 64,
        "pve-userid-list" => all_match(value, RE_USERID),
        "pve-tokenid" => one_match(value, RE_TOKENID),
        "pve-tokenid-list" => all_match(value, RE_TOKENID),
        "pve-groupid" | "pve-roleid" => one_match(value, RE_ROLEID),
        "pve-groupid-list" | "pve-roleid-list" => all_match(value, RE_ROLEID),
        "pve-priv-list" => all_match(value, r"[A-Za-z][A-Za-z0-9.]*"),
        "pve-realm" => one_match(value, r"[A-Za-z][A-Za-z0-9.\-_]+"),
        "pve-configid" => one_match(value, RE_CONFIGID),
        "pve-configid-list" => all_match(value, RE_CONFIGID),
        "pve-bridge-id" => one_match(value, r"[-_.\w\d]+"),
        "pve-bridge-id-list" => all_match(value, r"[-_.\w\d]+"),
        "pve-tag-list" => all_match(value, RE_TAG),
        "dns-name" => one_match(value, RE_DNS),
        "dns-name-list" => all_match(value, RE_DNS),
        "pve-iface" => one_match(value, RE_IFACE),
        "pve-iface-list" => all_match(value, RE_IFACE),
        "pve-vlan-id-or-range" => vlan_range_ok(value),
        "pve-vlan-id-or-range-list" => split_list(value).all(vlan_range_ok),
        "email-opt" => value.is_empty() || one_match(value, RE_EMAIL),
        "mac-addr" => one_match(value, RE_MAC) && u8::from_str_radix(value.get(0..2).unwrap_or("01"), 16).is_ok_and(|b| b & 1 == 0),
        "pve-volume-id" => one_match(value, RE_VOLUME),
        "pve-volume-id-or-qm-path" => value == "none" || value == "cdrom" || value.starts_with('/') || one_match(value, RE_VOLUME),
        "ipv4" => value.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => value.parse::<Ipv6Addr>().is_ok(),
        "ip" => value.parse::<IpAddr>().is_ok(),
        "CIDRv4" => cidr_ok(value, true, false),
        "CIDRv6" => cidr_ok(value, false, true),
        "CIDR" => cidr_ok(value, true, true),
        "ipv4mask" => value.parse::<Ipv4Addr>().is_ok_and(|m| u32::from(m).leading_ones() == u32::from(m).count_ones()),
        "string-list" | "urlencoded" => true,
        _ => true,
    };
    if ok { Ok(()) } else { Err(format!("value does not look like a valid {}", format_label(name))) }
}

fn format_label(name: &str) -> &str {
    match name {
        "pve-node" => "node name",
        "pve-vmid" => "VM ID",
        "pve-storage-id" => "storage ID",
        "pve-bridge-id" => "bridge name",
        "pve-iface" => "interface name",
        "pve-userid" => "user ID",
        "pve-poolid" => "pool ID",
        "dns-name" => "DNS name",
        "mac-addr" => "MAC address",
        other => other,
    }
}

/// Checks a `key=value,...` property string against an object format.
fn check_property_string(fmt: &Map<String, Value>, value: &str) -> Result<(), String> {
    let default_key = fmt.iter().find(|(_, p)| truthy(p.get("default_key"))).map(|(k, _)| k.as_str());
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut mark = |key: &str| -> Result<(), String> {
        if seen.insert(key.to_string()) {
            Ok(())
        } else {
            Err(format!("invalid format - duplicate key in comma-separated list property: {key}"))
        }
    };
    for part in value.split(',') {
        if part.is_empty() {
            continue;
        }
        match part.split_once('=') {
            Some((key, val)) => {
                let Some(spec) = fmt.get(key) else {
                    return Err(format!("invalid format - {key}: {MSG_UNKNOWN}"));
                };
                if let Some(target) = spec.get("keyAlias").and_then(Value::as_str) {
                    // `virtio=MAC`: the key is the value of `target` (model), the value is the
                    // aliased property (macaddr).
                    let alias = spec.get("alias").and_then(Value::as_str).unwrap_or("");
                    if let Some(t) = fmt.get(target) {
                        check_value(t, key).map_err(|e| format!("invalid format - {target}: {e}"))?;
                    }
                    if let Some(a) = fmt.get(alias) {
                        check_value(a, val).map_err(|e| format!("invalid format - {alias}: {e}"))?;
                    }
                    mark(target)?;
                    mark(alias)?;
                    continue;
                }
                let (name, spec) = match spec.get("alias").and_then(Value::as_str) {
                    Some(alias) => match fmt.get(alias) {
                        Some(s) => (alias, s),
                        None => return Err(format!("invalid format - {key}: {MSG_UNKNOWN}")),
                    },
                    None => (key, spec),
                };
                check_value(spec, val).map_err(|e| format!("invalid format - {name}: {e}"))?;
                mark(name)?;
            }
            None => {
                let Some(dk) = default_key else {
                    return Err(format!("invalid format - value without key, but schema does not define a default key: '{part}'"));
                };
                if let Some(spec) = fmt.get(dk) {
                    check_value(spec, part).map_err(|e| format!("invalid format - {dk}: {e}"))?;
                }
                mark(dk)?;
            }
        }
    }
    for (key, spec) in fmt {
        if spec.get("alias").is_some() || truthy(spec.get("optional")) {
            continue;
        }
        if !seen.contains(key) {
            return Err(format!("invalid format - {key}: {MSG_MISSING}"));
        }
    }
    Ok(())
}

/// Decodes `%XX` escapes (UPIDs and user ids in paths are often percent-encoded).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
