//! Simulated file locks: the per-VM config flock (`/var/lock/qemu-server/lock-N.conf`) and the
//! storage locks (`/var/lock/pve-manager/pve-storage-<id>` per node, cfs `storage-<id>` for
//! shared storage), all acquired with a timeout like `PVE::Tools::lock_file_full`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedMutexGuard, OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

/// All lock tables plus a registry of what is currently held (for snapshots).
#[derive(Debug, Default)]
pub(crate) struct Locks {
    /// Per-VM config locks: shared for clone sources, exclusive for edits.
    vm: Mutex<HashMap<u32, Arc<RwLock<()>>>>,
    /// Storage locks keyed by `node/storage` (local) or `storage` (shared).
    storage: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Names of held locks with their holder counts.
    held: Arc<Mutex<BTreeMap<String, usize>>>,
}

#[derive(Debug)]
enum Guard {
    Read(#[allow(dead_code)] OwnedRwLockReadGuard<()>),
    Write(#[allow(dead_code)] OwnedRwLockWriteGuard<()>),
    Exclusive(#[allow(dead_code)] OwnedMutexGuard<()>),
}

/// A held lock; released (and unregistered) on drop.
#[derive(Debug)]
pub(crate) struct HeldLock {
    _guard: Guard,
    name: String,
    held: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        if let Ok(mut held) = self.held.lock()
            && let Some(n) = held.get_mut(&self.name)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.name);
            }
        }
    }
}

impl Locks {
    fn register(&self, name: String, guard: Guard) -> HeldLock {
        if let Ok(mut held) = self.held.lock() {
            *held.entry(name.clone()).or_default() += 1;
        }
        HeldLock { _guard: guard, name, held: self.held.clone() }
    }

    fn vm_lock(&self, vmid: u32) -> Option<Arc<RwLock<()>>> {
        let mut map = self.vm.lock().ok()?;
        Some(map.entry(vmid).or_default().clone())
    }

    /// Shared VM lock (clone source of a stopped VM); `None` on timeout.
    pub(crate) async fn vm_shared(&self, vmid: u32, timeout: Duration) -> Option<HeldLock> {
        let lock = self.vm_lock(vmid)?;
        let guard = tokio::time::timeout(timeout, lock.read_owned()).await.ok()?;
        Some(self.register(format!("vm:{vmid}:shared"), Guard::Read(guard)))
    }

    /// Exclusive VM lock (config edit, destroy, clone target); `None` on timeout.
    pub(crate) async fn vm_exclusive(&self, vmid: u32, timeout: Duration) -> Option<HeldLock> {
        let lock = self.vm_lock(vmid)?;
        let guard = tokio::time::timeout(timeout, lock.write_owned()).await.ok()?;
        Some(self.register(format!("vm:{vmid}:exclusive"), Guard::Write(guard)))
    }

    /// A storage lock; `None` on timeout.
    pub(crate) async fn storage(&self, key: &str, timeout: Duration) -> Option<HeldLock> {
        let lock = {
            let mut map = self.storage.lock().ok()?;
            map.entry(key.to_string()).or_default().clone()
        };
        let guard = tokio::time::timeout(timeout, lock.lock_owned()).await.ok()?;
        Some(self.register(format!("storage:{key}"), Guard::Exclusive(guard)))
    }

    /// Names of the locks held right now, sorted (`vm:9000:shared`, `storage:pve2/local-lvm`).
    pub(crate) fn held(&self) -> Vec<String> {
        self.held.lock().map(|h| h.keys().cloned().collect()).unwrap_or_default()
    }
}
