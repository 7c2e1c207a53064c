//! Addresses and links of a fleet: the 198.18.0.0/15 safety net, subnet
//! allocation, and the batched `ip` calls that build and remove bridges,
//! veths and namespaces.

use std::collections::HashSet;
use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::cmd;
use crate::error::{FleetError, Result};

/// The whole range fleets draw from (RFC 2544 benchmark addresses, never routed on the internet).
pub const FLEET_RANGE: &str = "198.18.0.0/15";
const RANGE_START: u32 = u32::from_be_bytes([198, 18, 0, 0]);
/// Number of /24s in the /15.
const SLOTS: u32 = 512;
/// Metric of the unreachable route: high, so that every fleet bridge's own
/// (more specific anyway) connected route always wins over it.
const SAFETY_METRIC: &str = "4000";

/// A fleet's private subnet: a /24, or a /23 for fleets of more than 250 hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    /// Network address.
    pub network: Ipv4Addr,
    /// Prefix length (24 or 23).
    pub prefix: u8,
}

impl Subnet {
    fn slot(self) -> u32 {
        (u32::from(self.network) - RANGE_START) >> 8
    }

    fn slots(self) -> std::ops::Range<u32> {
        let n = 1 << (24 - u32::from(self.prefix));
        self.slot()..self.slot() + n
    }

    /// The bridge's address: the control plane as the hosts see it (`.1`).
    pub fn control_addr(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    /// Address of host `index` (0-based): `.2`, `.3`, ...
    pub fn host_addr(self, index: usize) -> Ipv4Addr {
        // index < MAX_HOSTS is checked at construction, so this cannot overflow.
        Ipv4Addr::from(u32::from(self.network) + 2 + index as u32)
    }

    /// How many hosts fit (network, bridge and broadcast addresses excluded).
    pub fn capacity(self) -> usize {
        (1usize << (32 - u32::from(self.prefix))) - 3
    }

    /// Whether `addr` lies inside this subnet.
    pub fn contains(self, addr: Ipv4Addr) -> bool {
        let mask = u32::MAX << (32 - u32::from(self.prefix));
        u32::from(addr) & mask == u32::from(self.network)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Installs `unreachable 198.18.0.0/15` unless present.
///
/// With it, a packet for a fleet address whose bridge is gone (or was never
/// made) is rejected on this machine instead of following the default route
/// onto the real network. It is never removed: it is harmless, and removing
/// it while another run still relies on it would reopen that hole.
pub(crate) fn ensure_safety_route() -> Result<()> {
    let existing = cmd::run(cmd::tool("ip").args(["-4", "route", "show", "exact", FLEET_RANGE, "type", "unreachable"]))?;
    if !String::from_utf8_lossy(&existing.stdout).trim().is_empty() {
        return Ok(());
    }
    let out = cmd::output(cmd::tool("ip").args(["-4", "route", "add", "unreachable", FLEET_RANGE, "metric", SAFETY_METRIC]))?;
    // A concurrent run may have added it between our check and our add.
    if out.status.success() || String::from_utf8_lossy(&out.stderr).contains("File exists") {
        return Ok(());
    }
    Err(FleetError::CommandFailed {
        command: format!("ip -4 route add unreachable {FLEET_RANGE} metric {SAFETY_METRIC}"),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    })
}

/// Route types `ip route` prints before the destination.
const ROUTE_TYPES: &[&str] =
    &["unicast", "local", "broadcast", "multicast", "unreachable", "blackhole", "prohibit", "throw", "nat", "anycast"];

/// The /24 slots of the range already used by routes or addresses on this machine.
pub(crate) fn used_slots() -> Result<HashSet<u32>> {
    let mut used = HashSet::new();
    let routes = cmd::run(cmd::tool("ip").args(["-4", "-o", "route", "show", "table", "all"]))?;
    for line in String::from_utf8_lossy(&routes.stdout).lines() {
        let mut tokens = line.split_whitespace();
        let Some(mut dest) = tokens.next() else { continue };
        if ROUTE_TYPES.contains(&dest) {
            let Some(d) = tokens.next() else { continue };
            dest = d;
        }
        mark(&mut used, dest);
    }
    let addrs = cmd::run(cmd::tool("ip").args(["-4", "-o", "addr", "show"]))?;
    for line in String::from_utf8_lossy(&addrs.stdout).lines() {
        let mut tokens = line.split_whitespace();
        if tokens.by_ref().any(|t| t == "inet")
            && let Some(a) = tokens.next()
        {
            mark(&mut used, a);
        }
    }
    Ok(used)
}

/// Marks the slots a prefix such as `198.18.4.0/24` or `198.19.1.7` overlaps.
fn mark(used: &mut HashSet<u32>, prefix: &str) {
    let (addr, len) = match prefix.split_once('/') {
        Some((a, l)) => (a, l.parse::<u32>().unwrap_or(32)),
        None => (prefix, 32),
    };
    let Ok(addr) = addr.parse::<Ipv4Addr>() else { return };
    // Routes covering the whole range (our own unreachable /15, a default
    // route) say nothing about which /24s are taken.
    if len <= 15 || len > 32 {
        return;
    }
    let start = u32::from(addr) & (u32::MAX << (32 - len));
    let end = start | !(u32::MAX << (32 - len));
    let mut a = start.max(RANGE_START);
    let range_end = RANGE_START + SLOTS * 256 - 1;
    while a <= end.min(range_end) {
        used.insert((a - RANGE_START) >> 8);
        a = match a.checked_add(256) {
            Some(n) => n & !0xff,
            None => break,
        };
    }
}

/// Picks a free subnet, starting at a slot derived from the run id so that
/// concurrent runs usually start their search at different places.
pub(crate) fn choose_subnet(run_id: &str, prefix: u8, used: &HashSet<u32>) -> Result<Subnet> {
    let span = 1u32 << (24 - u32::from(prefix));
    let hash = run_id.bytes().fold(2166136261u32, |h, b| (h ^ u32::from(b)).wrapping_mul(16777619));
    let start = (hash % SLOTS) & !(span - 1);
    let mut slot = start;
    loop {
        if (slot..slot + span).all(|s| !used.contains(&s)) {
            return Ok(Subnet { network: Ipv4Addr::from(RANGE_START + (slot << 8)), prefix });
        }
        slot = (slot + span) % SLOTS;
        if slot == start {
            return Err(FleetError::NoFreeSubnet { prefix });
        }
    }
}

/// Slots covered by a subnet (for marking other fleets' subnets as used).
pub(crate) fn subnet_slots(s: Subnet) -> impl Iterator<Item = u32> {
    s.slots()
}

/// Runs `ip -batch -` with one command per line.
///
/// One process for a whole fleet instead of three per host is most of what
/// makes a 100-host fleet start in seconds. With `force`, ip keeps going after
/// a failing line (teardown wants as much removed as possible).
pub(crate) fn ip_batch(lines: &[String], force: bool) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut c = cmd::tool("ip");
    if force {
        c.arg("-force");
    }
    c.args(["-batch", "-"]);
    let mut input = lines.join("\n");
    input.push('\n');
    cmd::run_with_input(&mut c, &input).map(|_| ())
}

/// Sets a link up or down.
pub(crate) fn set_link(name: &str, up: bool) -> Result<()> {
    cmd::run(cmd::tool("ip").args(["link", "set", "dev", name, if up { "up" } else { "down" }])).map(|_| ())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn marks_only_slots_inside_the_range() {
        let mut used = HashSet::new();
        mark(&mut used, "198.18.0.0/15");
        mark(&mut used, "10.0.0.0/8");
        assert!(used.is_empty());
        mark(&mut used, "198.18.3.0/24");
        mark(&mut used, "198.19.255.7");
        mark(&mut used, "198.18.8.0/23");
        let mut v: Vec<_> = used.into_iter().collect();
        v.sort();
        assert_eq!(v, vec![3, 8, 9, 511]);
    }

    #[test]
    fn subnets_are_aligned_and_skip_used_slots() {
        let used: HashSet<u32> = (0..SLOTS).filter(|s| *s != 77 && *s != 200 && *s != 201).collect();
        let s = choose_subnet("abc123", 24, &used).unwrap();
        assert_eq!(s.network, Ipv4Addr::new(198, 18, 77, 0));
        let s = choose_subnet("abc123", 23, &used).unwrap();
        assert_eq!(s.network, Ipv4Addr::new(198, 18, 200, 0));
        assert_eq!(s.host_addr(0), Ipv4Addr::new(198, 18, 200, 2));
        assert_eq!(s.host_addr(300), Ipv4Addr::new(198, 18, 201, 46));
        assert!(s.contains(s.host_addr(300)));
        assert_eq!(s.capacity(), 509);
        let all: HashSet<u32> = (0..SLOTS).collect();
        assert!(choose_subnet("x", 24, &all).is_err());
    }
}
