//! Proxmox tasks: UPIDs and waiting for them. A task is polled on the node
//! named in its UPID (another node does not know it), and `WARNINGS: N`
//! counts as success.

use super::{PveClient, PveError, seg};
use crate::client::error::ErrorKind;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// A parsed UPID (`UPID:node:pid:pstart:starttime:type:id:user:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upid {
    raw: String,
    /// The node that runs the task.
    pub node: String,
    /// The task type (`qmclone`, `qmstart`, `srvreload`…).
    pub kind: String,
    /// The task's object id (for `qmclone`: the source VMID).
    pub id: String,
}

impl Upid {
    /// The UPID as Proxmox wrote it.
    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

impl FromStr for Upid {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("'{s}' is not a UPID");
        let rest = s.strip_prefix("UPID:").ok_or_else(bad)?;
        let parts: Vec<&str> = rest.split(':').collect();
        // node, pid, pstart, starttime, type, id, user, "" (trailing colon)
        if parts.len() != 8 || !parts[7].is_empty() {
            return Err(bad());
        }
        let hex = |p: &str, lens: &[usize]| lens.contains(&p.len()) && p.chars().all(|c| c.is_ascii_hexdigit());
        let node_ok = !parts[0].is_empty() && parts[0].chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !node_ok || !hex(parts[1], &[8]) || !hex(parts[2], &[8, 9]) || !hex(parts[3], &[8]) || parts[4].is_empty() || parts[6].is_empty()
        {
            return Err(bad());
        }
        Ok(Upid { raw: s.to_string(), node: parts[0].to_string(), kind: parts[4].to_string(), id: parts[5].to_string() })
    }
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

#[derive(Debug, Deserialize)]
struct TaskStatus {
    #[serde(default, deserialize_with = "super::lenient::string")]
    status: String,
    #[serde(default)]
    exitstatus: Option<String>,
}

/// How a finished task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskOutcome {
    /// Warnings reported (`WARNINGS: N`), 0 for `OK`.
    pub warnings: u32,
}

impl PveClient {
    /// Waits until the task stops; `Ok` for `OK` or `WARNINGS: N`.
    /// `poll` is the first polling interval (it grows to 2 s for long tasks).
    pub async fn wait_task(&self, upid: &Upid, timeout: Duration, poll: Duration) -> Result<TaskOutcome, PveError> {
        let path = format!("/nodes/{}/tasks/{}/status", seg(&upid.node), seg(upid.as_str()));
        let started = Instant::now();
        let mut every = poll;
        let mut unreachable = 0u32;
        loop {
            match self.get::<TaskStatus>(&path, vec![]).await {
                Ok(st) if st.status == "stopped" => {
                    let exit = st.exitstatus.unwrap_or_default();
                    if exit == "OK" {
                        return Ok(TaskOutcome { warnings: 0 });
                    }
                    if let Some(n) = exit.strip_prefix("WARNINGS: ") {
                        return Ok(TaskOutcome { warnings: n.trim().parse().unwrap_or(1) });
                    }
                    return Err(PveError::task(upid.as_str(), &exit));
                }
                Ok(_) => unreachable = 0,
                // The node may be briefly unreachable while the task runs on; keep polling a while.
                Err(e) if e.kind == ErrorKind::NodeUnreachable && unreachable < 5 => unreachable += 1,
                Err(e) => return Err(e),
            }
            if started.elapsed() > timeout {
                return Err(PveError {
                    kind: ErrorKind::TaskFailed,
                    status: None,
                    op: format!("task {upid}"),
                    message: format!(
                        "still running after {} s; Gantry stopped waiting (the task may still finish on the node)",
                        timeout.as_secs()
                    ),
                    errors: BTreeMap::new(),
                });
            }
            tokio::time::sleep(every).await;
            every = (every * 3 / 2).min(Duration::from_secs(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upids() {
        let u: Upid = "UPID:pve2:0000A1B2:0012C3D4:65F0A1B2:qmclone:9000:root@pam!gantry:".parse().unwrap_or_else(|_| Upid {
            raw: String::new(),
            node: String::new(),
            kind: String::new(),
            id: String::new(),
        });
        assert_eq!((u.node.as_str(), u.kind.as_str(), u.id.as_str()), ("pve2", "qmclone", "9000"));
        assert!("UPID:pve2:0000A1B2:0012C3D4:65F0A1B2:qmclone:9000:root@pam".parse::<Upid>().is_err());
        assert!("UPID:pve_2:0000A1B2:0012C3D4:65F0A1B2:qmclone:9000:root@pam:".parse::<Upid>().is_err());
        assert!("UPID:pve2:A1B2:0012C3D4:65F0A1B2:qmclone:9000:root@pam:".parse::<Upid>().is_err());
    }
}
