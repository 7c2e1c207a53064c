//! Worker tasks: UPIDs in Proxmox's exact format, task records, and running task bodies.

use std::future::Future;
use std::sync::Arc;

use crate::state::{Sim, Task};

/// The UPID regex from pve-common (`PVE::Tools::upid_decode`).
pub const UPID_REGEX: &str =
    r"^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$";

/// Handle a task body uses to write its log.
#[derive(Debug, Clone)]
pub(crate) struct TaskCtx {
    pub sim: Arc<Sim>,
    pub upid: String,
}

impl TaskCtx {
    /// Appends a line to the task log.
    pub fn log(&self, line: impl Into<String>) {
        if let Some(t) = self.sim.cluster().tasks.get_mut(&self.upid) {
            t.log.push(line.into());
        }
    }
}

/// Decoded UPID fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upid {
    /// Node the task runs on.
    pub node: String,
    /// Task type (`qmclone`).
    pub kind: String,
    /// Task id (`9000`).
    pub id: String,
    /// User who started it.
    pub user: String,
}

/// Parses a UPID (the fields a client needs).
pub fn parse_upid(upid: &str) -> Option<Upid> {
    let re = regex::Regex::new(UPID_REGEX).ok()?;
    let caps = re.captures(upid)?;
    Some(Upid {
        node: caps.get(1)?.as_str().to_string(),
        kind: caps.get(6)?.as_str().to_string(),
        id: caps.get(7)?.as_str().to_string(),
        user: caps.get(8)?.as_str().to_string(),
    })
}

/// Starts a task on `node` and returns its UPID. The body's `Err` becomes the exit status.
pub(crate) fn spawn_task<F, Fut>(sim: &Arc<Sim>, node: &str, kind: &str, id: &str, user: &str, body: F) -> String
where
    F: FnOnce(TaskCtx) -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let pid = sim.next_pid();
    let pstart = (pid.wrapping_mul(2654435761) >> 4) | 0x1000_0000;
    let starttime = chrono::Utc::now().timestamp();
    let upid = format!("UPID:{node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{kind}:{id}:{user}:");
    let task = Task {
        upid: upid.clone(),
        node: node.to_string(),
        kind: kind.to_string(),
        id: id.to_string(),
        user: user.to_string(),
        pid,
        pstart,
        starttime,
        endtime: None,
        exitstatus: None,
        log: Vec::new(),
    };
    sim.cluster().tasks.insert(upid.clone(), task);
    sim.stats().tasks += 1;
    let ctx = TaskCtx { sim: sim.clone(), upid: upid.clone() };
    let fut = body(ctx);
    let sim2 = sim.clone();
    let upid2 = upid.clone();
    sim.tracker.spawn(async move {
        let result = fut.await;
        let (status, line) = match result {
            Ok(()) => ("OK".to_string(), "TASK OK".to_string()),
            Err(e) => (e.clone(), format!("TASK ERROR: {e}")),
        };
        tracing::debug!(upid = %upid2, %status, "task finished");
        if let Some(t) = sim2.cluster().tasks.get_mut(&upid2) {
            t.log.push(line);
            t.exitstatus = Some(status);
            t.endtime = Some(chrono::Utc::now().timestamp());
        }
    });
    upid
}
