//! Fault injection: one-shot failures a test arms through [`crate::SimHandle::inject`] or
//! `POST /_sim/faults`.

use serde::{Deserialize, Serialize};

/// A fault to inject. Counted faults apply to the next `count` matching operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Fault {
    /// Take a node offline or bring it back.
    NodeOnline {
        /// Node name.
        node: String,
        /// New state.
        online: bool,
    },
    /// The next `count` clone tasks fail with the storage lock timeout (after waiting for it).
    StorageLockTimeouts {
        /// How many clones.
        count: u32,
    },
    /// The next `count` clone tasks fail with `message`.
    CloneFailures {
        /// How many clones.
        count: u32,
        /// Task exit status, e.g. `clone failed: rbd error`.
        message: String,
    },
    /// The next `count` config PUT/POSTs (optionally only for `vmid`) fail with the lock timeout.
    ConfigLockTimeouts {
        /// Only this VM, or any.
        #[serde(default)]
        vmid: Option<u32>,
        /// How many requests.
        count: u32,
    },
    /// Multiply every task duration by `factor` from now on (1.0 resets).
    TaskSlowdown {
        /// Factor.
        factor: f64,
    },
    /// The next `count` API requests whose path contains `path_contains` answer `status`.
    ApiErrors {
        /// Substring of the path below `/api2/json`.
        path_contains: String,
        /// Status to answer (may be 595/596/597).
        status: u16,
        /// Error message.
        message: String,
        /// How many requests.
        count: u32,
    },
}

/// Armed counted faults.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub storage_lock_timeouts: u32,
    pub clone_failures: Vec<(u32, String)>,
    pub config_lock_timeouts: Vec<(Option<u32>, u32)>,
    pub api_errors: Vec<(String, u16, String, u32)>,
}

impl Faults {
    /// Consumes one storage lock timeout if armed.
    pub fn take_storage_lock_timeout(&mut self) -> bool {
        if self.storage_lock_timeouts > 0 {
            self.storage_lock_timeouts -= 1;
            true
        } else {
            false
        }
    }

    /// Consumes one clone failure if armed.
    pub fn take_clone_failure(&mut self) -> Option<String> {
        let slot = self.clone_failures.iter_mut().find(|(n, _)| *n > 0)?;
        slot.0 -= 1;
        let msg = slot.1.clone();
        self.clone_failures.retain(|(n, _)| *n > 0);
        Some(msg)
    }

    /// Consumes one config lock timeout for `vmid` if armed.
    pub fn take_config_lock_timeout(&mut self, vmid: u32) -> bool {
        let hit = self.config_lock_timeouts.iter_mut().find(|(v, n)| *n > 0 && v.is_none_or(|v| v == vmid));
        let found = match hit {
            Some(slot) => {
                slot.1 -= 1;
                true
            }
            None => false,
        };
        self.config_lock_timeouts.retain(|(_, n)| *n > 0);
        found
    }

    /// Consumes one API error for `path` if armed.
    pub fn take_api_error(&mut self, path: &str) -> Option<(u16, String)> {
        let slot = self.api_errors.iter_mut().find(|(p, _, _, n)| *n > 0 && path.contains(p.as_str()))?;
        slot.3 -= 1;
        let out = (slot.1, slot.2.clone());
        self.api_errors.retain(|(_, _, _, n)| *n > 0);
        Some(out)
    }
}
