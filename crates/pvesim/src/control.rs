//! The control API under `/_sim/...` (no auth, not part of Proxmox): state, request log,
//! statistics, fault injection and node power, for browser tests and demos.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::Fault;
use crate::state::{RequestRecord, Sim, SimStats, StateSnapshot};

/// Routes of the control API.
pub(crate) fn router() -> Router<Arc<Sim>> {
    Router::new()
        .route("/_sim/state", get(state))
        .route("/_sim/requests", get(requests))
        .route("/_sim/stats", get(stats))
        .route("/_sim/faults", post(fault))
        .route("/_sim/nodes/{node}/online", post(online))
}

async fn state(State(sim): State<Arc<Sim>>) -> Json<StateSnapshot> {
    Json(sim.snapshot())
}

async fn requests(State(sim): State<Arc<Sim>>) -> Json<Vec<RequestRecord>> {
    Json(sim.requests.lock().map(|r| r.clone()).unwrap_or_default())
}

async fn stats(State(sim): State<Arc<Sim>>) -> Json<SimStats> {
    Json(sim.stats().clone())
}

async fn fault(State(sim): State<Arc<Sim>>, Json(fault): Json<Fault>) -> Json<Value> {
    apply_fault(&sim, fault);
    Json(json!({"ok": true}))
}

#[derive(Deserialize)]
struct OnlineBody {
    online: bool,
}

async fn online(State(sim): State<Arc<Sim>>, Path(node): Path<String>, Json(body): Json<OnlineBody>) -> (http::StatusCode, Json<Value>) {
    if !sim.node_exists(&node) {
        return (http::StatusCode::NOT_FOUND, Json(json!({"error": format!("no such node '{node}'")})));
    }
    sim.set_online(&node, body.online);
    (http::StatusCode::OK, Json(json!({"node": node, "online": body.online})))
}

/// Arms a fault.
pub(crate) fn apply_fault(sim: &Sim, fault: Fault) {
    tracing::info!(?fault, "fault injected");
    match fault {
        Fault::NodeOnline { node, online } => sim.set_online(&node, online),
        Fault::StorageLockTimeouts { count } => sim.faults().storage_lock_timeouts += count,
        Fault::CloneFailures { count, message } => sim.faults().clone_failures.push((count, message)),
        Fault::ConfigLockTimeouts { vmid, count } => {
            sim.faults().config_lock_timeouts.push((vmid, count));
        }
        Fault::TaskSlowdown { factor } => sim.cluster().slowdown = factor,
        Fault::ApiErrors { path_contains, status, message, count } => sim.faults().api_errors.push((path_contains, status, message, count)),
    }
}
