import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router";
import { api, call, hasRole, type Job, type SystemInfo } from "../api/client";
import { useEvents, type GantryEvent, type JobUpdate } from "../api/events";
import { useMe } from "../auth/AuthContext";
import { JobStatusBadge, RoleBadge } from "../components/Badge";
import { JobDrawer } from "../components/JobDrawer";
import { ProgressBar } from "../components/JobProgress";
import { PageHeader } from "../components/Layout";
import { HealthTiles } from "../components/HealthTiles";
import { EmptyState, ErrorState, Loading } from "../components/States";
import { useToast } from "../components/Toasts";
import { formatDateTime, formatRelative } from "../lib/format";
import { NAV, UNAVAILABLE_MODULES } from "../modules";
import { proxyStates, type ProxyState } from "../api/proxy";
import { PROXY_COUNT_LABELS } from "../components/ProxyBadges";
import { statusCounts } from "./ProxyPage";

const AVAILABLE_MODULES = NAV.flatMap((s) => s.items).filter((i) => i.available && i.path !== "/");

export function DashboardPage() {
  const me = useMe();
  const toast = useToast();
  const [info, setInfo] = useState<SystemInfo | null>(null);
  const [infoError, setInfoError] = useState<unknown>(null);
  const [jobs, setJobs] = useState<Job[] | null>(null);
  const [jobsError, setJobsError] = useState<unknown>(null);
  const [starting, setStarting] = useState(false);
  const [openJob, setOpenJob] = useState<{ id: number; initial?: Job } | null>(null);
  const [proxy, setProxy] = useState<ProxyState[] | null>(null);
  const [proxyError, setProxyError] = useState<unknown>(null);

  const loadInfo = useCallback(() => {
    setInfoError(null);
    call(api.GET("/api/v1/system/info")).then(setInfo, setInfoError);
  }, []);
  const loadJobs = useCallback(() => {
    setJobsError(null);
    call(api.GET("/api/v1/jobs", { params: { query: { limit: 6 } } })).then((p) => setJobs(p.items), setJobsError);
  }, []);
  const loadProxy = useCallback(() => {
    setProxyError(null);
    proxyStates().then(setProxy, setProxyError);
  }, []);
  useEffect(() => {
    loadInfo();
    loadJobs();
    loadProxy();
  }, [loadInfo, loadJobs, loadProxy]);
  useEvents("proxy.status_changed", loadProxy);

  // Keep the recent jobs live: update rows in place, re-read on an unknown job.
  useEvents("job.", (e: GantryEvent) => {
    const p = e.payload as JobUpdate;
    setJobs((list) => {
      if (!list) return list;
      if (!list.some((j) => j.id === p.job_id)) {
        loadJobs();
        return list;
      }
      return list.map((j) => (j.id === p.job_id ? { ...j, status: p.status, progress: p.progress, message: p.message ?? j.message } : j));
    });
  });

  async function runSelfCheck() {
    setStarting(true);
    try {
      const job = await call(api.POST("/api/v1/system/selfcheck"));
      setOpenJob({ id: job.id, initial: job });
      toast.info(`Self-check started (job #${job.id})`);
      loadJobs();
    } catch (e) {
      toast.error(e instanceof Error ? e.message : "Could not start the self-check");
    } finally {
      setStarting(false);
    }
  }

  const canOperate = hasRole(me.role, "operator");

  return (
    <>
      <PageHeader
        title="Dashboard"
        description={`Welcome, ${me.display_name || me.username}.`}
        actions={
          canOperate ? (
            <button type="button" className="btn btn-primary" onClick={runSelfCheck} disabled={starting}>
              {starting ? "Starting…" : "Run self-check"}
            </button>
          ) : null
        }
      />
      <HealthTiles />
      <div className="grid grid-3">
        <section className="card" aria-labelledby="sys-title">
          <h2 id="sys-title" className="card-title">System</h2>
          {info ? (
            <dl className="facts facts-stacked">
              <div>
                <dt>Version</dt>
                <dd data-testid="version">{info.version}</dd>
              </div>
              <div>
                <dt>Database</dt>
                <dd>{info.database}</dd>
              </div>
              <div>
                <dt>Migrations</dt>
                <dd>
                  {info.migrations.length} applied
                  <span className="muted small"> · {info.migrations.join(", ")}</span>
                </dd>
              </div>
            </dl>
          ) : infoError ? (
            <ErrorState error={infoError} onRetry={loadInfo} />
          ) : (
            <Loading />
          )}
        </section>
        <section className="card" aria-labelledby="you-title">
          <h2 id="you-title" className="card-title">Your account</h2>
          <dl className="facts facts-stacked">
            <div>
              <dt>Username</dt>
              <dd>{me.username}</dd>
            </div>
            <div>
              <dt>Role</dt>
              <dd>
                <RoleBadge role={me.role} />
              </dd>
            </div>
            <div>
              <dt>Signed in with</dt>
              <dd>{me.auth === "session" ? "browser session" : "API token"}</dd>
            </div>
          </dl>
          <Link to="/account" className="card-link">
            Password & API tokens →
          </Link>
        </section>
        <section className="card" aria-labelledby="mod-title">
          <h2 id="mod-title" className="card-title">Modules</h2>
          <p className="muted small">
            Available in this version: dashboard, {AVAILABLE_MODULES.map((m) => m.label.toLowerCase()).join(", ")} and API tokens.
          </p>
          {UNAVAILABLE_MODULES.length > 0 ? (
            <>
              <p className="muted small">Not available yet:</p>
              <ul className="chip-list">
                {UNAVAILABLE_MODULES.map((m) => (
                  <li key={m.path} className="chip">
                    {m.label}
                  </li>
                ))}
              </ul>
            </>
          ) : null}
        </section>
      </div>
      <section className="card" aria-labelledby="proxy-title">
        <div className="card-head">
          <h2 id="proxy-title" className="card-title">Reverse proxy</h2>
          <Link to="/proxy" className="card-link">
            Proxy →
          </Link>
        </div>
        {proxy ? (
          proxy.length === 0 ? (
            <p className="muted">No servers yet. Add a server, then install the reverse proxy from its page.</p>
          ) : (
            <ul className="chip-list chip-list-tight" aria-label="Proxy status counts" data-testid="dashboard-proxy">
              {statusCounts(proxy).map((c) => (
                <li key={c.status} className={`chip chip-${c.status}`}>
                  {c.count} {PROXY_COUNT_LABELS[c.status]}
                </li>
              ))}
            </ul>
          )
        ) : proxyError ? (
          <ErrorState error={proxyError} onRetry={loadProxy} />
        ) : (
          <Loading />
        )}
      </section>
      <section className="card" aria-labelledby="jobs-title">
        <div className="card-head">
          <h2 id="jobs-title" className="card-title">Recent jobs</h2>
          <Link to="/jobs" className="card-link">
            All jobs →
          </Link>
        </div>
        {jobs ? (
          jobs.length === 0 ? (
            <EmptyState title="No jobs yet" icon="⟳">
              {canOperate ? <p>Run a self-check to see a job's progress live.</p> : <p>Jobs started by operators appear here.</p>}
            </EmptyState>
          ) : (
            <ul className="job-list">
              {jobs.map((j) => (
                <li key={j.id}>
                  <button type="button" className="job-list-item" onClick={() => setOpenJob({ id: j.id, initial: j })} aria-label={`Open job ${j.id}, ${j.kind}, ${j.status}`}>
                    <span className="job-list-id">#{j.id}</span>
                    <span className="job-list-kind">{j.kind}</span>
                    <JobStatusBadge status={j.status} />
                    <span className="job-list-bar">
                      <ProgressBar value={j.progress} status={j.status} label={`Job ${j.id} progress`} />
                    </span>
                    <span className="job-list-time muted small" title={formatDateTime(j.created_at)}>
                      {formatRelative(j.created_at)}
                    </span>
                  </button>
                </li>
              ))}
            </ul>
          )
        ) : jobsError ? (
          <ErrorState error={jobsError} onRetry={loadJobs} />
        ) : (
          <Loading />
        )}
      </section>
      <JobDrawer jobId={openJob?.id ?? null} initial={openJob?.initial} onClose={() => setOpenJob(null)} />
    </>
  );
}
