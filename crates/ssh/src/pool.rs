//! Connection reuse: one live connection per server, closed when idle.

use crate::SshError;
use crate::conn::{Connection, Target, Timeouts};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

type Slot = Arc<tokio::sync::Mutex<Option<Arc<Connection>>>>;

/// Pooled connections keyed by server id, plus the global fan-out bound.
pub struct Pool {
    slots: Mutex<HashMap<i64, Slot>>,
    /// Connection and command time bounds.
    pub timeouts: Timeouts,
    idle: Duration,
    /// Bounds how many servers are worked on at once across Gantry.
    pub limit: Arc<Semaphore>,
}

impl Pool {
    /// A pool with the given bounds.
    pub fn new(timeouts: Timeouts, idle: Duration, concurrency: usize) -> Self {
        Self { slots: Mutex::default(), timeouts, idle, limit: Arc::new(Semaphore::new(concurrency.max(1))) }
    }

    fn slot(&self, id: i64) -> Slot {
        match self.slots.lock() {
            Ok(mut m) => m.entry(id).or_default().clone(),
            Err(_) => Slot::default(),
        }
    }

    /// A live connection to `target`, reusing the pooled one when its
    /// parameters are unchanged. Only callers for the same server wait on
    /// each other while connecting.
    pub async fn get(&self, target: &Target) -> Result<Arc<Connection>, SshError> {
        let slot = self.slot(target.server_id);
        let mut guard = slot.lock().await;
        if let Some(c) = guard.as_ref()
            && !c.is_closed()
            && c.signature == target.signature()
        {
            return Ok(c.clone());
        }
        if let Some(old) = guard.take() {
            old.close().await;
        }
        let mut reports = Vec::new();
        let c = Arc::new(Connection::open(target, &self.timeouts, &mut reports).await?);
        *guard = Some(c.clone());
        Ok(c)
    }

    /// Drops a server's pooled connection (after its settings change or it is deleted).
    pub async fn forget(&self, server_id: i64) {
        let slot = match self.slots.lock() {
            Ok(mut m) => m.remove(&server_id),
            Err(_) => None,
        };
        if let Some(slot) = slot
            && let Some(c) = slot.lock().await.take()
        {
            c.close().await;
        }
    }

    /// Closes connections unused for longer than the idle bound.
    pub async fn reap(&self) -> usize {
        let slots: Vec<Slot> = match self.slots.lock() {
            Ok(m) => m.values().cloned().collect(),
            Err(_) => Vec::new(),
        };
        let mut closed = 0;
        for slot in slots {
            let Ok(mut guard) = slot.try_lock() else { continue };
            let stale =
                guard.as_ref().is_some_and(|c| c.is_closed() || c.last_used.lock().map(|t| t.elapsed() > self.idle).unwrap_or(true));
            if stale && let Some(c) = guard.take() {
                c.close().await;
                closed += 1;
            }
        }
        closed
    }
}
