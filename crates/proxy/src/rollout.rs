//! Fleet rollouts: one change applied to many servers, canary first, then
//! with bounded parallelism, stopping once failures exceed the threshold and
//! leaving the servers not yet reached on their previous generation.
//!
//! A rollout is a row with one target row per server, run by one job. If the
//! replica running it dies, the job's lease lapses and another replica
//! resumes it: finished targets keep their result, a target left `applying`
//! is applied again (which first recovers its in-flight generation).

use crate::error::ProxyError;
use crate::model::*;
use crate::service::{ApplyRequest, ProxyService, ROLLOUT_JOB, RolloutUpdated, Source};
use crate::store::{rollout, target};
use chrono::Utc;
use gantry_core::audit::{Actor, AuditDraft};
use gantry_core::events::DomainEvent;
use gantry_core::jobs::{JobContext, NewJob};
use gantry_core::page::{Page, PageRequest};
use gantry_core::repo::Trail;
use gantry_core::user::Role;
use gantry_core::{FieldError, ServiceError};
use sea_orm::ActiveValue::Set;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// What an operator asks for.
#[derive(Debug, Clone, Default)]
pub struct RolloutInput {
    /// Servers (canary first unless `canary` says otherwise); `None`: every installed server whose plan has changes.
    pub server_ids: Option<Vec<i64>>,
    /// The server to apply first.
    pub canary: Option<i64>,
    /// Servers at once after the canary.
    pub max_parallel: Option<usize>,
    /// Failures tolerated before stopping.
    pub max_failures: Option<usize>,
    /// Why.
    pub reason: Option<String>,
}

impl ProxyService {
    /// Creates a rollout and queues the job that runs it.
    pub async fn start_rollout(&self, input: RolloutInput, trigger: Trigger, actor: &Actor) -> Result<Rollout, ProxyError> {
        let mut errors = Vec::new();
        let parallel = input.max_parallel.unwrap_or(self.settings.rollout_parallel);
        if !(1..=64).contains(&parallel) {
            errors.push(FieldError::new("max_parallel", "must be between 1 and 64"));
        }
        let max_failures = input.max_failures.unwrap_or(self.settings.rollout_max_failures);
        if max_failures > 1000 {
            errors.push(FieldError::new("max_failures", "must be at most 1000"));
        }
        let mut ids = match input.server_ids {
            Some(ids) => ids,
            None => {
                let mut pending = Vec::new();
                for s in self.states().await? {
                    if s.install.is_some() && self.plan(s.server_id).await.is_ok_and(|p| p.reload_needed) {
                        pending.push(s.server_id);
                    }
                }
                pending
            }
        };
        let mut seen = std::collections::HashSet::new();
        ids.retain(|id| seen.insert(*id));
        if ids.is_empty() {
            errors.push(FieldError::new("server_ids", "no servers: give server ids, or there is nothing pending"));
        }
        for (i, id) in ids.iter().enumerate() {
            match self.repo.get(*id).await? {
                Some(r) if r.installed => {}
                _ => errors.push(FieldError::new(format!("server_ids[{i}]"), format!("server {id} has no proxy installed"))),
            }
        }
        if let Some(c) = input.canary {
            match ids.iter().position(|i| *i == c) {
                Some(p) => {
                    ids.remove(p);
                    ids.insert(0, c);
                }
                None => errors.push(FieldError::new("canary", "must be one of server_ids")),
            }
        }
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors).into());
        }
        let reason = input.reason.map(|r| r.trim().chars().take(500).collect::<String>()).filter(|r| !r.is_empty());
        let mut job = NewJob::new(ROLLOUT_JOB, json!({}));
        job.created_by = actor.user_id;
        job.audience = Role::Viewer;
        job.max_attempts = 3;
        let row = rollout::ActiveModel {
            status: Set(RolloutStatus::Running.as_str().into()),
            reason: Set(reason.clone()),
            trigger: Set(trigger.as_str().into()),
            actor: Set(actor.name.chars().take(64).collect()),
            max_parallel: Set(i32::try_from(parallel).unwrap_or(4)),
            max_failures: Set(i32::try_from(max_failures).unwrap_or(0)),
            job_id: Set(None),
            created_at: Set(Utc::now()),
            finished_at: Set(None),
            ..Default::default()
        };
        let trail = Trail::audit(AuditDraft::new(
            actor,
            "proxy.rollout",
            "rollout",
            None,
            json!({"servers": ids, "max_parallel": parallel, "max_failures": max_failures, "reason": reason}),
        ));
        let (r, _) = self.repo.create_rollout(row, &ids, job, trail).await?;
        self.waker.wake();
        self.bus.notify_written();
        self.rollout(r.id).await
    }

    /// A rollout with its targets.
    pub async fn rollout(&self, id: i64) -> Result<Rollout, ProxyError> {
        let (r, targets) = self.repo.rollout(id).await?.ok_or(ServiceError::NotFound("rollout"))?;
        self.rollout_view(r, targets).await
    }

    /// Rollouts, newest first.
    pub async fn rollouts(&self, page: PageRequest) -> Result<Page<Rollout>, ProxyError> {
        let rows = self.repo.rollouts(page.after.as_ref().map(|c| c.id), page.limit).await?;
        let mut out = Vec::new();
        for r in rows {
            out.push(self.rollout(r.id).await?);
        }
        Ok(page.finish(out, |r| r.id))
    }

    async fn rollout_view(&self, r: rollout::Model, targets: Vec<target::Model>) -> Result<Rollout, ProxyError> {
        let mut names: HashMap<i64, String> = HashMap::new();
        let mut ts = Vec::new();
        for t in targets {
            if let std::collections::hash_map::Entry::Vacant(e) = names.entry(t.server_id) {
                e.insert(self.servers.get(t.server_id).await.map(|s| s.name).unwrap_or_else(|_| format!("server {}", t.server_id)));
            }
            ts.push(RolloutTarget {
                server_name: names.get(&t.server_id).cloned().unwrap_or_default(),
                server_id: t.server_id,
                position: t.position,
                status: TargetStatus::parse(&t.status).unwrap_or(TargetStatus::Waiting),
                generation_id: t.generation_id,
                error: t.error,
                started_at: t.started_at,
                finished_at: t.finished_at,
            });
        }
        Ok(Rollout {
            id: r.id,
            status: RolloutStatus::parse(&r.status).unwrap_or(RolloutStatus::Running),
            reason: r.reason,
            trigger: Trigger::parse(&r.trigger).unwrap_or(Trigger::Manual),
            actor: r.actor,
            max_parallel: r.max_parallel,
            max_failures: r.max_failures,
            job_id: r.job_id,
            targets: ts,
            created_at: r.created_at,
            finished_at: r.finished_at,
        })
    }

    async fn set_target(
        &self,
        rollout_id: i64,
        t: &target::Model,
        status: TargetStatus,
        generation: Option<i64>,
        error: Option<String>,
    ) -> Result<target::Model, ProxyError> {
        let mut am: target::ActiveModel = t.clone().into();
        am.status = Set(status.as_str().into());
        if status == TargetStatus::Applying {
            am.started_at = Set(Some(Utc::now()));
        } else {
            am.finished_at = Set(Some(Utc::now()));
        }
        if generation.is_some() {
            am.generation_id = Set(generation);
        }
        am.error = Set(error);
        let m = self.repo.update_target(am).await?;
        let ev = RolloutUpdated { rollout_id, status: RolloutStatus::Running, server_id: Some(t.server_id), target_status: Some(status) };
        match self.repo.emit(Trail::default().with_event(ev.draft())).await {
            Ok(()) => self.bus.notify_written(),
            Err(e) => tracing::warn!(rollout_id, error = %e, "cannot record a rollout event"),
        }
        Ok(m)
    }

    /// Runs (or resumes) a rollout.
    pub async fn run_rollout(self: &Arc<Self>, id: i64, ctx: Option<&JobContext>) -> Result<Rollout, ProxyError> {
        let (r, targets) = self.repo.rollout(id).await?.ok_or(ServiceError::NotFound("rollout"))?;
        if r.status != RolloutStatus::Running.as_str() {
            return self.rollout(id).await;
        }
        let trigger = Trigger::parse(&r.trigger).unwrap_or(Trigger::Manual);
        let max_failures = usize::try_from(r.max_failures).unwrap_or(0);
        let parallel = usize::try_from(r.max_parallel).unwrap_or(1).max(1);
        if let Some(job) = ctx.map(|c| c.job.id.0) {
            for t in &targets {
                self.repo.dequeue(t.server_id, job).await?;
            }
        }
        let done = |s: &str| {
            matches!(
                TargetStatus::parse(s),
                Some(TargetStatus::Succeeded | TargetStatus::Unchanged | TargetStatus::Failed | TargetStatus::Skipped)
            )
        };
        let mut failures = targets.iter().filter(|t| t.status == TargetStatus::Failed.as_str()).count();
        let total = targets.len();
        let req = |job_id: Option<i64>| ApplyRequest {
            trigger: Trigger::Rollout,
            reason: r.reason.clone().or_else(|| Some(format!("rollout {id} ({trigger})"))),
            actor: r.actor.clone(),
            force: false,
            source: Source::Desired { hold_manual: trigger == Trigger::Auto },
            rollout_id: Some(id),
            job_id,
        };
        let job_id = ctx.map(|c| c.job.id.0);
        let mut queue: Vec<target::Model> = targets.iter().filter(|t| !done(&t.status)).cloned().collect();
        // The canary goes alone; a failed canary stops everything.
        let canary_ok = match targets.first() {
            Some(c) if !done(&c.status) => {
                queue.retain(|t| t.id != c.id);
                progress_msg(ctx, 5, &format!("canary: {}", c.server_id)).await;
                let ok = self.run_target(id, c, req(job_id), ctx).await?;
                if !ok {
                    failures += 1;
                }
                ok
            }
            Some(c) => c.status != TargetStatus::Failed.as_str(),
            None => true,
        };
        let mut stopped = !canary_ok;
        // Each server's apply is its own task: they must keep running while this
        // loop waits for anything else (a task that holds the database writer
        // and is not polled would stall every other writer).
        let mut running = tokio::task::JoinSet::new();
        let mut finished = total - queue.len();
        let mut queue = queue.into_iter();
        loop {
            while !stopped && running.len() < parallel {
                let Some(t) = queue.next() else { break };
                let (svc, rq) = (self.clone(), req(job_id));
                running.spawn(async move { svc.run_target(id, &t, rq, None).await });
            }
            let Some(joined) = running.join_next().await else { break };
            let ok = joined.map_err(|e| ProxyError::Invalid(format!("a rollout task stopped: {e}")))?;
            finished += 1;
            if !ok? {
                failures += 1;
                if failures > max_failures {
                    stopped = true;
                }
            }
            progress_msg(
                ctx,
                i32::try_from(5 + finished * 90 / total.max(1)).unwrap_or(95),
                &format!("{finished}/{total} servers done, {failures} failed"),
            )
            .await;
        }
        // Whatever was not started stays on its previous generation.
        for t in queue {
            self.set_target(id, &t, TargetStatus::Skipped, None, Some("not attempted: the rollout stopped".into())).await?;
        }
        let status = if stopped { RolloutStatus::Stopped } else { RolloutStatus::Succeeded };
        let ev = RolloutUpdated { rollout_id: id, status, server_id: None, target_status: None };
        let audit = AuditDraft::new(
            &Actor::system("proxy"),
            "proxy.rollout_finished",
            "rollout",
            Some(id.to_string()),
            json!({"status": status, "failures": failures, "servers": total}),
        );
        self.repo.finish_rollout(id, status.as_str(), Trail::audit(audit).with_event(ev.draft())).await?;
        self.bus.notify_written();
        self.rollout(id).await
    }

    /// Applies one target; `Ok(false)` when it failed (recorded on the target).
    async fn run_target(
        &self,
        rollout_id: i64,
        t: &target::Model,
        req: ApplyRequest,
        ctx: Option<&JobContext>,
    ) -> Result<bool, ProxyError> {
        let t = self.set_target(rollout_id, t, TargetStatus::Applying, None, None).await?;
        match self.apply(t.server_id, req, ctx).await {
            Ok(o) => {
                let status = if o.unchanged { TargetStatus::Unchanged } else { TargetStatus::Succeeded };
                self.set_target(rollout_id, &t, status, o.generation_id, None).await?;
                Ok(true)
            }
            Err(ProxyError::Cancelled) => Err(ProxyError::Cancelled),
            Err(e) => {
                let newest = self.repo.generations(t.server_id, None, 1).await?;
                let generation = newest.first().filter(|g| g.rollout_id == Some(rollout_id)).map(|g| g.id);
                self.set_target(rollout_id, &t, TargetStatus::Failed, generation, Some(e.to_string().chars().take(2000).collect())).await?;
                Ok(false)
            }
        }
    }
}

async fn progress_msg(ctx: Option<&JobContext>, pct: i32, msg: &str) {
    if let Some(c) = ctx {
        c.progress(pct, msg).await;
    }
}
