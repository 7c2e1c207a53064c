//! Task status, log and listing (`/nodes/{node}/tasks`). Tasks live on their node: asking
//! another node about a UPID fails like Proxmox, which looks in that node's task directory.

use serde_json::{Value, json};

use super::Call;
use crate::error::ApiError;
use crate::state::Task;
use crate::tasks::parse_upid;

fn task_json(t: &Task) -> Value {
    let mut v = json!({
        "upid": t.upid, "node": t.node, "pid": t.pid, "pstart": t.pstart,
        "starttime": t.starttime, "type": t.kind, "id": t.id, "user": t.user,
        "status": if t.endtime.is_some() { "stopped" } else { "running" },
    });
    if let Some(e) = &t.exitstatus {
        v["exitstatus"] = json!(e);
    }
    if let Some(end) = t.endtime {
        v["endtime"] = json!(end);
    }
    v
}

fn find(c: &Call) -> Result<Task, ApiError> {
    let node = c.params.node()?;
    let upid = c.params.req("upid")?.to_string();
    let Some(decoded) = parse_upid(&upid) else {
        return Err(ApiError::param("upid", "unable to parse worker upid"));
    };
    if decoded.node != node {
        return Err(ApiError::param("upid", "no such task"));
    }
    c.sim.cluster().tasks.get(&upid).cloned().ok_or_else(|| ApiError::param("upid", "no such task"))
}

pub(crate) async fn status(c: Call) -> Result<Value, ApiError> {
    find(&c).map(|t| task_json(&t))
}

pub(crate) async fn log(c: Call) -> Result<Value, ApiError> {
    let t = find(&c)?;
    let start = c.params.u32("start")?.unwrap_or(0) as usize;
    let limit = c.params.u32("limit")?.unwrap_or(50) as usize;
    let lines: Vec<Value> = t
        .log
        .iter()
        .enumerate()
        .skip(start)
        .take(if limit == 0 { usize::MAX } else { limit })
        .map(|(i, l)| json!({"n": i + 1, "t": l}))
        .collect();
    Ok(Value::Array(lines))
}

pub(crate) async fn list(c: Call) -> Result<Value, ApiError> {
    let node = c.params.node()?;
    let cluster = c.sim.cluster();
    let mut tasks: Vec<&Task> = cluster.tasks.values().filter(|t| t.node == node).collect();
    tasks.sort_by_key(|t| std::cmp::Reverse(t.starttime));
    let limit = c.params.u32("limit")?.unwrap_or(50) as usize;
    Ok(Value::Array(tasks.into_iter().take(limit).map(task_json).collect()))
}
