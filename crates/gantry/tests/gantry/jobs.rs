//! The durable job queue: progress, retries, leases, several replicas, live events.

use crate::backend_tests;
use crate::helpers::{Backend, FreshDb, Session, TestApp, eventually};
use async_trait::async_trait;
use gantry_api::module::{Module, Mount, MountError};
use gantry_api::state::Platform;
use gantry_core::ids::JobId;
use gantry_core::jobs::{JobContext, JobError, JobHandler, NewJob};
use gantry_core::repo::Trail;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

backend_tests!(
    selfcheck_reports_progress_live,
    transient_failures_are_retried_and_permanent_ones_are_not,
    crashed_replica_jobs_are_taken_over_after_the_lease,
    two_replicas_never_run_a_job_twice,
    event_stream_respects_roles_and_resumes,
    jobs_can_be_cancelled
);

/// Which replica ran which job, in order.
type Runs = Arc<Mutex<Vec<(i64, String)>>>;

/// A module that exists only in tests: job kinds that record their runs.
struct TestJobs {
    replica: String,
    runs: Runs,
}

impl Module for TestJobs {
    fn name(&self) -> &'static str {
        "testjobs"
    }
    fn mount(&self, _: &Arc<Platform>) -> Result<Mount, MountError> {
        Ok(Mount { jobs: vec![Arc::new(Record { replica: self.replica.clone(), runs: self.runs.clone() })], ..Default::default() })
    }
}

struct Record {
    replica: String,
    runs: Runs,
}

#[async_trait]
impl JobHandler for Record {
    fn kind(&self) -> &'static str {
        "test.record"
    }
    async fn run(&self, ctx: JobContext) -> Result<Value, JobError> {
        self.runs.lock().unwrap().push((ctx.job.id.0, self.replica.clone()));
        let sleep = ctx.job.payload["sleep_ms"].as_u64().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(sleep)).await;
        let fail_until = ctx.job.payload["fail_until_attempt"].as_i64().unwrap_or(0);
        if i64::from(ctx.job.attempts) <= fail_until {
            return Err(JobError::Transient(format!("planned failure on attempt {}", ctx.job.attempts)));
        }
        if ctx.job.payload["permanent"].as_bool() == Some(true) {
            return Err(JobError::Permanent("planned permanent failure".into()));
        }
        ctx.progress(50, "half way").await;
        Ok(json!({"ran_on": self.replica}))
    }
}

async fn spawn_with_test_jobs(db: FreshDb, replica: &str, runs: &Runs) -> TestApp {
    let replica = replica.to_string();
    let runs = runs.clone();
    TestApp::spawn_with(
        db,
        |_| {},
        move |cfg| {
            let mut m = gantry::modules::all(cfg);
            m.push(Box::new(TestJobs { replica: replica.clone(), runs: runs.clone() }));
            m
        },
    )
    .await
}

async fn enqueue(t: &TestApp, payload: Value) -> i64 {
    let job = t.app().platform.repos.jobs.enqueue(NewJob::new("test.record", payload), Trail::default()).await.unwrap();
    t.app().platform.jobs_waker.wake();
    job.id.0
}

async fn wait_final(s: &Session, id: i64) -> Value {
    eventually(20, || async {
        let j = s.json(&format!("/api/v1/jobs/{id}")).await;
        let st = j["status"].as_str().unwrap_or("").to_string();
        (st == "succeeded" || st == "failed" || st == "cancelled").then_some(j)
    })
    .await
}

/// Reads SSE frames until `stop` returns true for a parsed event, within 15 s.
pub(crate) async fn read_events(r: &mut reqwest::Response, mut stop: impl FnMut(&str, &Value) -> bool) -> Vec<(String, Value)> {
    let mut buf = String::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let chunk =
            tokio::time::timeout_at(deadline, r.chunk()).await.expect("events arrive in time").expect("stream").expect("stream open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let mut kind = String::new();
            let mut data = String::new();
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    kind = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim());
                }
            }
            if kind.is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
            let done = stop(&kind, &v);
            out.push((kind, v));
            if done {
                return out;
            }
        }
    }
}

async fn selfcheck_reports_progress_live(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let op = t.user("opal", "operator").await;
    let mut stream = op.get("/api/v1/events?kinds=job.").await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(stream.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));

    let r = op.post("/api/v1/system/selfcheck", json!({})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let job: Value = r.json().await.unwrap();
    let id = job["id"].as_i64().unwrap();
    assert_eq!(job["status"], "queued");

    let events = read_events(&mut stream, |_, v| v["payload"]["job_id"] == id && v["payload"]["status"] == "succeeded").await;
    let progress: Vec<i64> =
        events.iter().filter(|(_, v)| v["payload"]["job_id"] == id).filter_map(|(_, v)| v["payload"]["progress"].as_i64()).collect();
    assert!(progress.len() >= 5, "several progress events: {progress:?}");
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "progress only grows: {progress:?}");
    assert_eq!(progress.last(), Some(&100));

    let done = wait_final(&op, id).await;
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["progress"], 100);
    assert_eq!(done["attempts"], 1);
    assert!(done["log"].as_array().unwrap().len() >= 4, "steps logged");
    assert_eq!(done["result"]["database"]["ok"], true);
    assert_eq!(done["result"]["master_key"]["ok"], true);
    let list = op.json("/api/v1/jobs?status=succeeded&kind=system.selfcheck").await;
    assert_eq!(list["items"][0]["id"], id);
    t.stop().await;
}

async fn transient_failures_are_retried_and_permanent_ones_are_not(backend: Backend) {
    let runs = Runs::default();
    let t = spawn_with_test_jobs(FreshDb::new(backend).await, "a", &runs).await;
    let admin = t.admin().await;
    let flaky = enqueue(&t, json!({"fail_until_attempt": 1})).await;
    let broken = enqueue(&t, json!({"permanent": true})).await;
    let j = wait_final(&admin, flaky).await;
    assert_eq!(j["status"], "succeeded");
    assert_eq!(j["attempts"], 2);
    assert_eq!(j["result"]["ran_on"], "a");
    let j = wait_final(&admin, broken).await;
    assert_eq!(j["status"], "failed");
    assert_eq!(j["attempts"], 1);
    assert_eq!(j["error"], "planned permanent failure");
    t.stop().await;
}

async fn crashed_replica_jobs_are_taken_over_after_the_lease(backend: Backend) {
    // Replica "dead" claims a job and stops without finishing it (its lease runs out).
    let db = FreshDb::new(backend).await;
    let second = db.same_database();
    let first = TestApp::spawn_on(db, |_| {}).await;
    let repo = first.app().platform.repos.jobs.clone();
    let job = repo.enqueue(NewJob::new("test.record", json!({})), Trail::default()).await.unwrap();
    let claimed = repo.claim("dead", &["test.record".into()], Duration::from_secs(2)).await.unwrap().expect("claimed");
    assert_eq!(claimed.id, job.id);
    assert_eq!(claimed.lease_owner.as_deref(), Some("dead"));
    assert!(repo.claim("other", &["test.record".into()], Duration::from_secs(2)).await.unwrap().is_none(), "a held lease is not claimable");
    first.app.unwrap().stop().await;

    // A surviving replica on the same database picks it up once the lease lapses.
    let runs = Runs::default();
    let db_b = second;
    let t = spawn_with_test_jobs(db_b, "survivor", &runs).await;
    let admin = t.admin().await;
    let done = wait_final(&admin, job.id.0).await;
    assert_eq!(done["status"], "succeeded");
    assert_eq!(done["attempts"], 2, "the lapsed lease counts as an attempt");
    assert_eq!(done["result"]["ran_on"], "survivor");
    // The dead replica can no longer report on the job.
    let repo = t.app().platform.repos.jobs.clone();
    assert!(!repo.renew(JobId(job.id.0), "dead", Duration::from_secs(5)).await.unwrap());
    assert!(!repo.progress(JobId(job.id.0), "dead", 10, Some("late"), None).await.unwrap());
    t.stop().await;
}

async fn two_replicas_never_run_a_job_twice(backend: Backend) {
    let runs = Runs::default();
    let db = FreshDb::new(backend).await;
    let second = db.same_database();
    let a = spawn_with_test_jobs(db, "a", &runs).await;
    // The second replica shares the database (and, for SQLite, the file).
    let db_b = second;
    let b = spawn_with_test_jobs(db_b, "b", &runs).await;
    let mut ids = Vec::new();
    // Jobs long enough (5 rounds of 8 at 120 ms) that one replica cannot drain
    // the queue before the other's first claim, even on a loaded CI machine
    // (with 30 ms jobs a busy run once saw a=0, b=40).
    for i in 0..40 {
        ids.push(enqueue(if i % 2 == 0 { &a } else { &b }, json!({"sleep_ms": 120})).await);
    }
    let admin = a.admin().await;
    for id in &ids {
        assert_eq!(wait_final(&admin, *id).await["status"], "succeeded");
    }
    let runs = runs.lock().unwrap().clone();
    let mut per_job: HashMap<i64, usize> = HashMap::new();
    for (id, _) in &runs {
        *per_job.entry(*id).or_default() += 1;
    }
    assert_eq!(per_job.len(), 40, "every job ran");
    assert!(per_job.values().all(|n| *n == 1), "a job ran twice: {per_job:?}");
    let on_a = runs.iter().filter(|r| r.1 == "a").count();
    let on_b = runs.iter().filter(|r| r.1 == "b").count();
    assert!(on_a > 0 && on_b > 0, "both replicas pulled work (a={on_a}, b={on_b})");
    b.app.unwrap().stop().await;
    a.stop().await;
}

async fn event_stream_respects_roles_and_resumes(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let admin = t.admin().await;
    let viewer = t.user("violet", "viewer").await;
    let mut admin_stream = admin.get("/api/v1/events").await;
    let mut viewer_stream = viewer.get("/api/v1/events").await;
    let vid = viewer.json("/api/v1/auth/me").await["id"].as_i64().unwrap();
    // An admin-only event (user.changed) followed by a public one (job.updated).
    assert_eq!(
        admin
            .patch(
                &format!("/api/v1/users/{vid}"),
                json!({"display_name": "V", "role": "viewer", "disabled": false, "password": "password-of-user"})
            )
            .await
            .status(),
        200
    );
    let op = t.user("oscar", "operator").await;
    let job: Value = op.post("/api/v1/system/selfcheck", json!({})).await.json().await.unwrap();
    let id = job["id"].as_i64().unwrap();

    let seen_admin = read_events(&mut admin_stream, |k, v| k == "job.updated" && v["payload"]["job_id"] == id).await;
    assert!(seen_admin.iter().any(|(k, _)| k == "user.changed"), "admin sees user changes");
    let seen_viewer = read_events(&mut viewer_stream, |k, v| k == "job.updated" && v["payload"]["job_id"] == id).await;
    assert!(seen_viewer.iter().all(|(k, _)| k != "user.changed" && k != "auth.revoked"), "viewer saw admin-only or internal events");

    // Resuming with Last-Event-ID replays what came after it.
    let first_id = seen_admin.first().map(|(_, v)| v["id"].as_i64().unwrap()).unwrap();
    let mut resumed = admin
        .request(reqwest::Method::GET, "/api/v1/events?kinds=job.")
        .header("Last-Event-ID", (first_id - 1).to_string())
        .send()
        .await
        .unwrap();
    let replay = read_events(&mut resumed, |k, v| k == "job.updated" && v["payload"]["job_id"] == id).await;
    assert!(!replay.is_empty());
    assert!(replay.iter().all(|(k, _)| k.starts_with("job.")), "kind filter applies to replay");
    t.stop().await;
}

async fn jobs_can_be_cancelled(backend: Backend) {
    let runs = Runs::default();
    let t = spawn_with_test_jobs(FreshDb::new(backend).await, "a", &runs).await;
    let later = t
        .app()
        .platform
        .repos
        .jobs
        .enqueue(
            NewJob { run_after: Some(chrono::Utc::now() + chrono::Duration::seconds(3600)), ..NewJob::new("test.record", json!({})) },
            Trail::default(),
        )
        .await
        .unwrap();
    let op = t.user("otis", "operator").await;
    let r = op.post(&format!("/api/v1/jobs/{}/cancel", later.id), json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let j: Value = r.json().await.unwrap();
    assert_eq!(j["status"], "cancelled");
    let again = op.post(&format!("/api/v1/jobs/{}/cancel", later.id), json!({})).await;
    crate::helpers::expect_problem(again, 409, "invalid_state").await;
    let viewer = t.user("val", "viewer").await;
    crate::helpers::expect_problem(viewer.post(&format!("/api/v1/jobs/{}/cancel", later.id), json!({})).await, 403, "forbidden").await;
    assert!(runs.lock().unwrap().is_empty(), "a cancelled job never runs");
    t.stop().await;
}
