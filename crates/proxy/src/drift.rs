//! Drift: Gantry reads back the SHA-256 of its files on a server and compares
//! them with the live generation. Hand edits, deleted files, extra files and a
//! moved live pointer all show as drift, with a diff of what was found.

use crate::error::ProxyError;
use crate::model::*;
use crate::remote::Layout;
use crate::render::{self, group_of_file};
use crate::service::{ProxyDriftDetected, ProxyService, parse};
use crate::store::StateChanges;
use chrono::Utc;
use gantry_core::events::DomainEvent;
use gantry_core::repo::Trail;
use similar::TextDiff;
use std::collections::BTreeMap;
use std::time::Duration;

fn diff(path: &str, expected: &str, found: &str) -> String {
    TextDiff::from_lines(expected, found)
        .unified_diff()
        .context_radius(3)
        .header(&format!("expected/{path}"), &format!("found/{path}"))
        .to_string()
}

impl ProxyService {
    /// Reads back a server's files and records drift; queues a repair when a
    /// drifted group asks for automatic repair. `Busy` while another worker holds the server.
    pub async fn check_drift(&self, server_id: i64) -> Result<DriftReport, ProxyError> {
        let lease = self.lease(server_id, Duration::from_millis(500)).await?;
        let r = self.check_drift_locked(server_id).await;
        self.release(lease).await;
        r
    }

    async fn check_drift_locked(&self, server_id: i64) -> Result<DriftReport, ProxyError> {
        let row = self.repo.ensure(server_id).await?;
        let info = Self::install_info(&row)?;
        let live = self.live(&row).await?;
        let layout = Layout { conf_dir: info.conf_dir.clone() };
        let (conn, sudo) = self.connect(server_id).await?;
        let remote = self.remote(&conn, sudo);
        let found = remote.readback(&layout).await?;
        let files: BTreeMap<String, String> = match &live {
            Some(g) => parse(&g.files, "files")?,
            None => BTreeMap::new(),
        };
        let mut drifted = Vec::new();
        let live_dir = layout.live_dir();
        let expected_number = live.as_ref().map(|g| g.number).unwrap_or(0);
        if found.live_number != Some(expected_number) {
            drifted.push(DriftedFile {
                path: format!("{}/live", layout.root()),
                kind: "changed".into(),
                diff: format!(
                    "-> generations/{expected_number}\n+> {}\n",
                    found.live_number.map(|n| format!("generations/{n}")).unwrap_or_else(|| "(missing)".into())
                ),
            });
        }
        for (name, content) in &files {
            let path = format!("{live_dir}/{name}");
            match found.files.get(name) {
                None => drifted.push(DriftedFile { path, kind: "missing".into(), diff: diff(name, content, "") }),
                Some(h) if *h != render::file_sha256(content) => {
                    let now = remote.read(&path).await.unwrap_or_default();
                    drifted.push(DriftedFile { diff: diff(name, content, &now), path, kind: "changed".into() });
                }
                Some(_) => {}
            }
        }
        for name in found.files.keys().filter(|n| !files.contains_key(*n)) {
            let path = format!("{live_dir}/{name}");
            let now = remote.read(&path).await.unwrap_or_default();
            drifted.push(DriftedFile { diff: diff(name, "", &now), path, kind: "extra".into() });
        }
        let include = layout.include_content(!info.operator_directives.contains("server_tokens"));
        if found.include.as_deref() != Some(render::file_sha256(&include).as_str()) {
            let path = layout.include_file();
            let now = if found.include.is_some() { remote.read(&path).await.unwrap_or_default() } else { String::new() };
            let kind = if found.include.is_some() { "changed" } else { "missing" };
            drifted.push(DriftedFile { diff: diff("gantry.conf", &include, &now), path, kind: kind.into() });
        }
        let report = DriftReport { checked_at: Utc::now(), generation: live.as_ref().map(|g| g.number), files: drifted };
        let status = ProxyStatus::parse(&row.status).unwrap_or(ProxyStatus::InSync);
        let now = Utc::now();
        if report.files.is_empty() {
            if status == ProxyStatus::Drifted {
                let changes = StateChanges { drift: Some(None), drift_checked_at: Some(now), ..Default::default() };
                self.set_state(&row, ProxyStatus::InSync, None, changes, Trail::default()).await?;
            } else {
                self.repo
                    .update(
                        server_id,
                        StateChanges { drift: Some(None), drift_checked_at: Some(now), ..Default::default() },
                        Trail::default(),
                    )
                    .await?;
            }
            return Ok(report);
        }
        // Repair by itself when every drifted group file belongs to a group that asks for it,
        // and Gantry's own files drifted only on a server where some group asks for it.
        let groups = self.groups(server_id).await?;
        let auto: Vec<i64> = groups.iter().filter(|g| g.auto_repair).map(|g| g.id).collect();
        let repair = !auto.is_empty()
            && report.files.iter().all(|f| {
                let name = f.path.rsplit('/').next().unwrap_or("");
                group_of_file(name).is_none_or(|gid| auto.contains(&gid))
            });
        let paths: Vec<String> = report.files.iter().map(|f| f.path.clone()).collect();
        let text = serde_json::to_string(&report).map_err(|e| ProxyError::Invalid(e.to_string()))?;
        let message = format!("{} of Gantry's files on the server differ from generation {expected_number}", paths.len());
        let trail = Trail::default().with_event(ProxyDriftDetected { server_id, paths, repairing: repair }.draft());
        let changes = StateChanges { drift: Some(Some(text)), drift_checked_at: Some(now), ..Default::default() };
        self.set_state(&row, ProxyStatus::Drifted, Some(message), changes, trail).await?;
        if repair {
            self.request_repair(server_id).await?;
        }
        Ok(report)
    }

    /// Queues a forced apply of today's state to repair drift.
    pub(crate) async fn request_repair(&self, server_id: i64) -> Result<(), ProxyError> {
        let mut job = gantry_core::jobs::NewJob::new(
            crate::service::APPLY_JOB,
            serde_json::json!({"server_id": server_id, "trigger": Trigger::Repair.as_str(), "force": true, "actor": "system:proxy",
                "reason": "automatic drift repair"}),
        );
        job.audience = gantry_core::user::Role::Viewer;
        self.jobs.enqueue(job, Trail::default()).await?;
        self.waker.wake();
        Ok(())
    }
}
