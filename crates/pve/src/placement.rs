//! Choosing a node for each VM. Pure: it sees a snapshot of the nodes plus
//! Gantry's own reservations (Proxmox's metrics lag ~10 s, so VMs placed in
//! this run, or by another deployment still in flight, must count) and
//! returns a decision with the score of every node, so a plan can explain
//! itself.
//!
//! The score follows the idea of Proxmox's static CRS scheduler: the load a
//! node would have *after* taking the VM, memory weighted more than CPU
//! (memory cannot be overcommitted safely, CPU can: the CPU term counts
//! vCPUs against [`CPU_OVERCOMMIT`] per physical CPU).

use crate::model::Strategy;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Weight of memory in the balanced score (CPU gets the rest).
pub const MEMORY_WEIGHT: f64 = 0.7;
/// `pack` fills a node up to this memory fraction before opening another.
pub const PACK_LIMIT: f64 = 0.85;
/// vCPUs per physical CPU considered fully used: CPU is overcommitted
/// routinely (idle lab VMs), so the CPU term saturates at 4 vCPUs per CPU.
pub const CPU_OVERCOMMIT: f64 = 4.0;
/// No strategy places a VM that would take a node past this memory fraction.
pub const HARD_LIMIT: f64 = 1.0;

/// A node as placement sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeLoad {
    /// Node name.
    pub name: String,
    /// Online (offline nodes are never chosen).
    pub online: bool,
    /// CPUs.
    pub maxcpu: f64,
    /// CPUs in use (fraction × maxcpu, plus committed vCPUs of stopped stand VMs).
    pub cpu_used: f64,
    /// Memory size, bytes.
    pub maxmem: u64,
    /// Memory in use or committed, bytes.
    pub mem_used: u64,
}

/// What one VM needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Demand {
    /// Memory, bytes.
    pub mem: u64,
    /// vCPUs.
    pub cores: f64,
}

/// Load Gantry has placed but Proxmox may not show yet, per node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reservations {
    /// node → (memory bytes, cores, VMs).
    pub by_node: BTreeMap<String, (u64, f64, u32)>,
}

impl Reservations {
    /// Adds a placed VM.
    pub fn add(&mut self, node: &str, d: Demand) {
        let e = self.by_node.entry(node.to_string()).or_insert((0, 0.0, 0));
        e.0 += d.mem;
        e.1 += d.cores;
        e.2 += 1;
    }
}

/// One node's evaluation for one VM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NodeScore {
    /// Node.
    pub node: String,
    /// Memory fraction after placing the VM (reservations included).
    pub mem_after: f64,
    /// CPU fraction after placing the VM.
    pub cpu_after: f64,
    /// Lower is better (balanced: weighted load; pack: inverted).
    pub score: f64,
    /// Why the node could not take the VM, if it could not.
    pub excluded: Option<String>,
}

/// A placement and its reasons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Decision {
    /// The chosen node.
    pub node: String,
    /// Every node's score, best first.
    pub scores: Vec<NodeScore>,
}

/// Context for one VM: which nodes can host it, and where this user's other VMs went.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    /// Nodes ruled out for this VM and why (template storage, missing storage…).
    pub excluded: BTreeMap<String, String>,
    /// This user's VMs placed so far, per node.
    pub user_nodes: Option<&'a BTreeMap<String, u32>>,
    /// `same-node`: the node the user's first VM went to.
    pub pinned: Option<&'a str>,
}

/// Picks a node for a VM, or explains why none fits.
pub fn choose(
    nodes: &[NodeLoad],
    res: &Reservations,
    d: Demand,
    strategy: Strategy,
    ctx: &Context<'_>,
) -> Result<Decision, Vec<NodeScore>> {
    let mut scores = Vec::with_capacity(nodes.len());
    for n in nodes {
        let (rm, rc, _) = res.by_node.get(&n.name).copied().unwrap_or((0, 0.0, 0));
        let mem_after = if n.maxmem == 0 { f64::INFINITY } else { (n.mem_used + rm + d.mem) as f64 / n.maxmem as f64 };
        let cpu_after = if n.maxcpu <= 0.0 { f64::INFINITY } else { (n.cpu_used + rc + d.cores) / n.maxcpu };
        let balanced = MEMORY_WEIGHT * mem_after + (1.0 - MEMORY_WEIGHT) * (cpu_after / CPU_OVERCOMMIT).min(1.0);
        let excluded = if !n.online {
            Some("node is offline".to_string())
        } else if let Some(why) = ctx.excluded.get(&n.name) {
            Some(why.clone())
        } else if mem_after > HARD_LIMIT {
            Some(format!("not enough memory ({:.0}% after placing)", mem_after * 100.0))
        } else if ctx.pinned.is_some_and(|p| p != n.name) {
            Some("same-node: this user's stand is on another node".to_string())
        } else {
            None
        };
        let score = match strategy {
            Strategy::Balanced | Strategy::SameNode => balanced,
            // Prefer the fullest node still under the pack limit; over it, fall back to balanced (+10 puts them after).
            Strategy::Pack => {
                if mem_after <= PACK_LIMIT {
                    1.0 - mem_after
                } else {
                    10.0 + balanced
                }
            }
            // Fewest of this user's VMs first, then balanced.
            Strategy::Spread => ctx.user_nodes.and_then(|u| u.get(&n.name)).copied().unwrap_or(0) as f64 + balanced.min(0.999),
        };
        scores.push(NodeScore {
            node: n.name.clone(),
            mem_after: round(mem_after),
            cpu_after: round(cpu_after),
            score: round(score),
            excluded,
        });
    }
    scores.sort_by(|a, b| a.excluded.is_some().cmp(&b.excluded.is_some()).then(a.score.total_cmp(&b.score)).then(a.node.cmp(&b.node)));
    match scores.first() {
        Some(best) if best.excluded.is_none() => Ok(Decision { node: best.node.clone(), scores }),
        _ => Err(scores),
    }
}

fn round(x: f64) -> f64 {
    if x.is_finite() { (x * 10_000.0).round() / 10_000.0 } else { 999.0 }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const GIB: u64 = 1 << 30;

    fn nodes() -> Vec<NodeLoad> {
        vec![
            NodeLoad { name: "big".into(), online: true, maxcpu: 32.0, cpu_used: 2.0, maxmem: 128 * GIB, mem_used: 8 * GIB },
            NodeLoad { name: "mid".into(), online: true, maxcpu: 16.0, cpu_used: 1.0, maxmem: 64 * GIB, mem_used: 4 * GIB },
            NodeLoad { name: "small".into(), online: true, maxcpu: 8.0, cpu_used: 1.0, maxmem: 32 * GIB, mem_used: 2 * GIB },
        ]
    }

    fn run(strategy: Strategy, count: usize) -> BTreeMap<String, u32> {
        let ns = nodes();
        let mut res = Reservations::default();
        let mut per = BTreeMap::new();
        let d = Demand { mem: 2 * GIB, cores: 2.0 };
        for _ in 0..count {
            let dec = choose(&ns, &res, d, strategy, &Context::default()).unwrap();
            res.add(&dec.node, d);
            *per.entry(dec.node).or_insert(0) += 1;
        }
        per
    }

    #[test]
    fn balanced_fills_in_proportion_to_size() {
        let per = run(Strategy::Balanced, 42);
        let ns = nodes();
        let frac: Vec<f64> =
            ns.iter().map(|n| (n.mem_used + per.get(&n.name).copied().unwrap_or(0) as u64 * 2 * GIB) as f64 / n.maxmem as f64).collect();
        let spread = frac.iter().cloned().fold(f64::MIN, f64::max) - frac.iter().cloned().fold(f64::MAX, f64::min);
        // Within one VM's share of the smallest node.
        assert!(spread <= 2.0 / 32.0 + 1e-9, "{per:?} {frac:?}");
        assert!(per["big"] > per["mid"] && per["mid"] > per["small"], "{per:?}");
    }

    #[test]
    fn pack_fills_one_node_first() {
        let per = run(Strategy::Pack, 10);
        assert_eq!(per.len(), 1, "{per:?}");
    }

    #[test]
    fn offline_and_excluded_nodes_are_skipped_with_reasons() {
        let mut ns = nodes();
        ns[0].online = false;
        let mut ctx = Context::default();
        ctx.excluded.insert("mid".into(), "template uses local storage on small".into());
        let d = choose(&ns, &Reservations::default(), Demand { mem: GIB, cores: 1.0 }, Strategy::Balanced, &ctx).unwrap();
        assert_eq!(d.node, "small");
        let big = d.scores.iter().find(|s| s.node == "big").unwrap();
        assert_eq!(big.excluded.as_deref(), Some("node is offline"));
        // Nothing fits: every node's reason is reported.
        let err = choose(&ns, &Reservations::default(), Demand { mem: 64 * GIB, cores: 1.0 }, Strategy::Balanced, &ctx).unwrap_err();
        assert!(err.iter().all(|s| s.excluded.is_some()));
    }

    #[test]
    fn spread_uses_distinct_nodes_for_one_user() {
        let ns = nodes();
        let mut user = BTreeMap::new();
        let mut res = Reservations::default();
        let d = Demand { mem: GIB, cores: 1.0 };
        for _ in 0..3 {
            let ctx = Context { user_nodes: Some(&user), ..Default::default() };
            let dec = choose(&ns, &res, d, Strategy::Spread, &ctx).unwrap();
            res.add(&dec.node, d);
            *user.entry(dec.node).or_insert(0u32) += 1;
        }
        assert_eq!(user.len(), 3, "{user:?}");
    }
}
