//! Values parsed at the boundary: once one of these exists it is valid, so
//! the planner, the deployer and the client never see a raw string that
//! Proxmox would reject.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Why a value was rejected; the message names the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid<T>(msg: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid(msg.into()))
}

macro_rules! string_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                raw.parse().map_err(|e: Invalid| serde::de::Error::custom(e.0))
            }
        }
    };
}

/// A Proxmox user id `name@realm` (pve-access-control's `pve-userid`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PveUserId {
    name: String,
    realm: String,
}

impl PveUserId {
    /// The part before `@`.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The realm (`pve`, `pam`, an LDAP realm…).
    pub fn realm(&self) -> &str {
        &self.realm
    }
    /// The name reduced to what pool ids, VM names and tags accept
    /// (`student.1` → `student-1`), lower case.
    pub fn slug(&self) -> String {
        let mut out = String::new();
        for c in self.name.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else if !out.ends_with('-') {
                out.push('-');
            }
        }
        let t = out.trim_matches('-').to_string();
        if t.is_empty() { "user".into() } else { t }
    }
}

impl FromStr for PveUserId {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        let Some((name, realm)) = s.rsplit_once('@') else {
            return invalid(format!("'{s}' is not a Proxmox user id: expected name@realm, e.g. student1@pve"));
        };
        if s.len() > 64 {
            return invalid(format!("'{s}' is longer than the 64 characters Proxmox allows for a user id"));
        }
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == ':' || c == '/' || c == '@') {
            return invalid(format!("'{s}': the user name must not be empty or contain spaces, ':', '/' or '@'"));
        }
        let mut rc = realm.chars();
        let ok_realm = realm.len() >= 2
            && rc.next().is_some_and(|c| c.is_ascii_alphabetic())
            && rc.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !ok_realm {
            return invalid(format!(
                "'{s}': the realm '{realm}' must start with a letter and hold only letters, digits, '.', '-' or '_' (at least 2 characters)"
            ));
        }
        Ok(PveUserId { name: name.to_string(), realm: realm.to_string() })
    }
}

impl fmt::Display for PveUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.realm)
    }
}
string_serde!(PveUserId);

/// A Linux bridge name as Proxmox accepts it for `pve-iface`, kept to the
/// 10 characters pve-network recommends so VLAN sub-interfaces still fit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BridgeName(String);

impl BridgeName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for BridgeName {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let mut c = s.chars();
        let first_ok = c.next().is_some_and(|c| c.is_ascii_lowercase());
        if !first_ok || s.len() < 2 || !c.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return invalid(format!(
                "bridge '{s}' is not a valid Proxmox interface name: a lower-case letter, then lower-case letters, digits or '_' (at least 2 characters)"
            ));
        }
        if s.len() > 10 {
            return invalid(format!("bridge '{s}' is longer than 10 characters (Proxmox's limit for bridges that carry VLANs)"));
        }
        Ok(BridgeName(s.to_string()))
    }
}

impl fmt::Display for BridgeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_serde!(BridgeName);

/// A network alias `bridge.vlan` (`hq.100`: bridge `hq`, tag 100) or a bare
/// bridge (`hq`: untagged).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NetAlias {
    /// The bridge on each node.
    pub bridge: BridgeName,
    /// The VLAN tag, 1–4094; `None` is untagged.
    pub vlan: Option<u16>,
}

impl NetAlias {
    /// The `net[n]` value for a virtio NIC on this network.
    pub fn net_value(&self, firewall: bool) -> String {
        let mut v = format!("virtio,bridge={}", self.bridge);
        if let Some(t) = self.vlan {
            v.push_str(&format!(",tag={t}"));
        }
        if firewall {
            v.push_str(",firewall=1");
        }
        v
    }
}

impl FromStr for NetAlias {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let s = s.trim();
        let (b, v) = match s.split_once('.') {
            Some((b, v)) => (b, Some(v)),
            None => (s, None),
        };
        let bridge: BridgeName = b.parse()?;
        let vlan = match v {
            None => None,
            Some(v) => match v.parse::<u16>() {
                Ok(n) if (1..=4094).contains(&n) => Some(n),
                _ => return invalid(format!("'{s}': the VLAN after '.' must be a number from 1 to 4094")),
            },
        };
        Ok(NetAlias { bridge, vlan })
    }
}

impl fmt::Display for NetAlias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.vlan {
            Some(v) => write!(f, "{}.{v}", self.bridge),
            None => write!(f, "{}", self.bridge),
        }
    }
}
string_serde!(NetAlias);

/// A node name (`pve-node`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeName(String);

impl NodeName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for NodeName {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-');
        if !ok {
            return invalid(format!("'{s}' is not a Proxmox node name (letters, digits and inner '-')"));
        }
        Ok(NodeName(s.to_string()))
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_serde!(NodeName);

/// A VM name: a DNS name, as Proxmox's `name` parameter requires.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VmName(String);

impl VmName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for VmName {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let ok = !s.is_empty()
            && s.len() <= 253
            && s.split('.').all(|l| {
                let b = l.as_bytes();
                !b.is_empty()
                    && b.len() <= 63
                    && b[0].is_ascii_alphanumeric()
                    && b[b.len() - 1].is_ascii_alphanumeric()
                    && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
            });
        if !ok {
            return invalid(format!("VM name '{s}' is not a DNS name (letters, digits, inner '-', labels separated by '.')"));
        }
        Ok(VmName(s.to_string()))
    }
}

impl fmt::Display for VmName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_serde!(VmName);

/// A pool id (`pve-poolid`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PoolId(String);

impl PoolId {
    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PoolId {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 64
            && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
            && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'));
        if !ok {
            return invalid(format!("pool id '{s}' must start with a letter, digit or '_' and hold only letters, digits, '-', '_' or '.'"));
        }
        Ok(PoolId(s.to_string()))
    }
}

impl fmt::Display for PoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_serde!(PoolId);

/// A role id such as `PVEVMUser`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoleId(String);

impl RoleId {
    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RoleId {
    fn default() -> Self {
        RoleId("PVEVMUser".into())
    }
}

impl FromStr for RoleId {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let b = s.as_bytes();
        let ok = !b.is_empty() && b.len() <= 64 && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.'));
        if !ok {
            return invalid(format!("role '{s}' is not a Proxmox role id (letters, digits, '-', '_', '.')"));
        }
        Ok(RoleId(s.to_string()))
    }
}

impl fmt::Display for RoleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_serde!(RoleId);

/// The inclusive VMID range Gantry allocates from on one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VmidRange {
    /// First id (at least 100, Proxmox's lowest).
    pub first: u32,
    /// Last id (at most 999999999).
    pub last: u32,
}

impl VmidRange {
    /// Checks the bounds.
    pub fn new(first: u32, last: u32) -> Result<Self, Invalid> {
        if first < 100 || last > 999_999_999 || first > last {
            return invalid(format!("VMID range {first}-{last} must lie within 100-999999999 with first <= last"));
        }
        Ok(VmidRange { first, last })
    }
}

impl Default for VmidRange {
    fn default() -> Self {
        VmidRange { first: 10_000, last: 19_999 }
    }
}

impl FromStr for VmidRange {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let Some((a, b)) = s.split_once('-') else { return invalid(format!("VMID range '{s}' must look like 10000-19999")) };
        match (a.trim().parse(), b.trim().parse()) {
            (Ok(a), Ok(b)) => VmidRange::new(a, b),
            _ => invalid(format!("VMID range '{s}' must look like 10000-19999")),
        }
    }
}

/// How a VM is copied from its template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CloneMode {
    /// Copy-on-write from the template's base disks: fast, needs the template's storage where the VM runs.
    #[default]
    Linked,
    /// A complete copy: slower, independent of the template.
    Full,
}

/// Where a stand's VMs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Each VM on the node with the lowest weighted load after placing it.
    #[default]
    Balanced,
    /// Fill the most loaded node that still has room, keep others free.
    Pack,
    /// Spread one user's VMs over as many nodes as possible, then balance.
    Spread,
    /// Keep all of one user's VMs on one node (the least loaded that fits them all).
    SameNode,
}

/// A VM name pattern. `{user}`, `{realm}`, `{n}` (the user's position,
/// from 1) and `{vm}` (the VM's key in the blueprint) are replaced, and the
/// result must be a DNS name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern(String);

impl NamePattern {
    /// Renders the pattern for one user and VM.
    pub fn render(&self, user: &PveUserId, n: usize, vm: &str) -> Result<VmName, Invalid> {
        self.0
            .replace("{user}", &user.slug())
            .replace("{realm}", &user.realm().to_ascii_lowercase())
            .replace("{n}", &n.to_string())
            .replace("{vm}", vm)
            .parse()
    }
    /// The pattern text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The default, `{user}-{vm}` (valid by construction).
    pub fn user_vm() -> Self {
        NamePattern("{user}-{vm}".into())
    }
}

impl FromStr for NamePattern {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let mut rest = s;
        while let Some(i) = rest.find('{') {
            let Some(j) = rest[i..].find('}') else { return invalid(format!("name pattern '{s}' has an unclosed '{{'")) };
            let key = &rest[i + 1..i + j];
            if !matches!(key, "user" | "realm" | "n" | "vm") {
                return invalid(format!("name pattern '{s}' uses {{{key}}}; the placeholders are {{user}}, {{realm}}, {{n}} and {{vm}}"));
            }
            rest = &rest[i + j + 1..];
        }
        // A sample rendering must already be a DNS name.
        let sample = s.replace("{user}", "u").replace("{realm}", "r").replace("{n}", "1").replace("{vm}", "v");
        sample.parse::<VmName>().map_err(|_| Invalid(format!("name pattern '{s}' does not render to a DNS name (e.g. '{sample}')")))?;
        Ok(NamePattern(s.to_string()))
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_serde!(NamePattern);

/// A Proxmox API endpoint, always HTTPS (`https://pve1.example:8006`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint(String);

impl Endpoint {
    /// The base URL without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Endpoint {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let s = s.trim().trim_end_matches('/');
        let Some(rest) = s.strip_prefix("https://") else {
            return invalid(format!("endpoint '{s}' must start with https:// (Proxmox serves its API over TLS only)"));
        };
        let rest = rest.strip_suffix("/api2/json").unwrap_or(rest);
        if rest.is_empty() || rest.contains('/') || rest.contains('@') || rest.contains(char::is_whitespace) {
            return invalid(format!("endpoint '{s}' must be https://host[:port] with nothing after the port"));
        }
        // A port is `:digits` at the end, unless the host is a bare IPv6 address.
        let has_port = rest.rsplit_once(':').is_some_and(|(h, p)| p.parse::<u16>().is_ok() && (!h.contains(':') || h.ends_with(']')));
        let with_port = if has_port { rest.to_string() } else { format!("{rest}:8006") };
        Ok(Endpoint(format!("https://{with_port}")))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_serde!(Endpoint);

/// A SHA-256 certificate fingerprint, as Proxmox shows it (`AB:CD:…`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The raw digest.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// The fingerprint of a DER certificate.
    pub fn of_der(der: &[u8]) -> Self {
        use sha2::Digest;
        let d = sha2::Sha256::digest(der);
        let mut out = [0u8; 32];
        out.copy_from_slice(&d);
        Fingerprint(out)
    }
}

impl FromStr for Fingerprint {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let hex: String = s.trim().chars().filter(|c| *c != ':').collect();
        if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return invalid("the fingerprint must be a SHA-256 digest: 32 hex bytes, optionally separated by ':'");
        }
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).map_err(|_| Invalid("bad hex in fingerprint".into()))?;
        }
        Ok(Fingerprint(out))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|b| format!("{b:02X}")).collect();
        f.write_str(&parts.join(":"))
    }
}
string_serde!(Fingerprint);

/// An API token id `user@realm!tokenid`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenId {
    /// The owning user.
    pub user: PveUserId,
    /// The token's name.
    pub name: String,
}

impl FromStr for TokenId {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let Some((u, t)) = s.trim().split_once('!') else {
            return invalid(format!("token id '{s}' must look like user@realm!tokenname"));
        };
        let mut c = t.chars();
        let ok = c.next().is_some_and(|c| c.is_ascii_alphabetic())
            && c.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && t.len() <= 64;
        if !ok {
            return invalid(format!("token name '{t}' must start with a letter and hold only letters, digits, '-', '_' or '.'"));
        }
        Ok(TokenId { user: u.parse()?, name: t.to_string() })
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}!{}", self.user, self.name)
    }
}
string_serde!(TokenId);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn user_ids() {
        let u: PveUserId = "student1@pve".parse().unwrap();
        assert_eq!((u.name(), u.realm()), ("student1", "pve"));
        assert_eq!("Stud.Ent_1@pve".parse::<PveUserId>().unwrap().slug(), "stud-ent-1");
        for bad in ["student1", "@pve", "a b@pve", "x@1pve", "x@p", "a/b@pve"] {
            assert!(bad.parse::<PveUserId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn aliases() {
        let a: NetAlias = "hq.100".parse().unwrap();
        assert_eq!((a.bridge.as_str(), a.vlan), ("hq", Some(100)));
        assert_eq!(a.net_value(false), "virtio,bridge=hq,tag=100");
        assert_eq!("hq".parse::<NetAlias>().unwrap().vlan, None);
        for bad in ["hq.0", "hq.4095", "hq.x", "Hq.1", "h.1", "1hq", "verylongbridge.5", "hq-1"] {
            assert!(bad.parse::<NetAlias>().is_err(), "{bad}");
        }
    }

    #[test]
    fn patterns_and_endpoints() {
        let p: NamePattern = "{user}-router-{n}".parse().unwrap();
        let u: PveUserId = "student1@pve".parse().unwrap();
        assert_eq!(p.render(&u, 3, "r").unwrap().as_str(), "student1-router-3");
        assert!("{who}-x".parse::<NamePattern>().is_err());
        assert!("a_b".parse::<NamePattern>().is_err());
        assert_eq!("https://pve1".parse::<Endpoint>().unwrap().as_str(), "https://pve1:8006");
        assert_eq!("https://127.0.0.1:4443/".parse::<Endpoint>().unwrap().as_str(), "https://127.0.0.1:4443");
        assert!("http://pve1:8006".parse::<Endpoint>().is_err());
        let f: Fingerprint = "ab".repeat(32).parse().unwrap();
        assert!(f.to_string().starts_with("AB:AB"));
        assert!("root@pam!gantry".parse::<TokenId>().is_ok());
        assert!("root@pam".parse::<TokenId>().is_err());
    }
}
