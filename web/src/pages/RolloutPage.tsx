// One fleet rollout (/proxy/rollouts/:id): each server's state, live
// (`proxy.rollout_updated` re-reads it), the canary marked, the generation
// each server got, and why a server failed.
import { useCallback, useEffect, useRef, useState } from "react";
import { Link, useParams } from "react-router";
import type { JobStatus } from "../api/client";
import { useEvents } from "../api/events";
import { getRollout, listGenerations, type Rollout, type RolloutTarget, type TargetStatus } from "../api/proxy";
import { Badge } from "../components/Badge";
import { DataTable, type Column } from "../components/DataTable";
import { JobDrawer } from "../components/JobDrawer";
import { ProgressBar } from "../components/JobProgress";
import { PageHeader } from "../components/Layout";
import { RolloutStatusBadge, TargetStatusBadge, TriggerBadge } from "../components/ProxyBadges";
import { generationPath } from "../components/ServerProxy";
import { ErrorState, Loading } from "../components/States";
import { formatDateTime, formatRelative } from "../lib/format";
import { formatDuration } from "../lib/serverCheck";
import { rolloutProgress } from "./ProxyPage";

const TARGET_ORDER: TargetStatus[] = ["applying", "waiting", "succeeded", "unchanged", "failed", "skipped"];

function barStatus(r: Rollout): JobStatus {
  return r.status === "running" ? "running" : r.status === "succeeded" ? "succeeded" : "failed";
}

export function RolloutPage() {
  const { id } = useParams();
  const rolloutId = Number(id);
  const [rollout, setRollout] = useState<Rollout | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [openJob, setOpenJob] = useState(false);
  // generation id → number, per server (targets name generations by id; their pages go by number).
  const [numbers, setNumbers] = useState<Map<number, number>>(new Map());
  const asked = useRef<Set<number>>(new Set());

  const load = useCallback(async () => {
    try {
      setRollout(await getRollout(rolloutId));
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [rolloutId]);

  useEffect(() => {
    setRollout(null);
    void load();
  }, [load]);

  useEvents("proxy.rollout_updated", (e) => {
    const p = e.payload as { rollout_id?: number };
    if (p.rollout_id === rolloutId || e.entity_id === String(rolloutId)) void load();
  });

  // Look up the numbers of the generations the targets produced (once per server and generation).
  useEffect(() => {
    if (!rollout) return;
    const missing = rollout.targets.filter((t) => t.generation_id != null && !numbers.has(t.generation_id) && !asked.current.has(t.generation_id));
    if (missing.length === 0) return;
    missing.forEach((t) => asked.current.add(t.generation_id!));
    const servers = [...new Set(missing.map((t) => t.server_id))];
    void Promise.allSettled(servers.map((sid) => listGenerations(sid, undefined, 50))).then((pages) => {
      setNumbers((prev) => {
        const next = new Map(prev);
        for (const p of pages) if (p.status === "fulfilled") for (const g of p.value.items) next.set(g.id, g.number);
        return next;
      });
    });
  }, [rollout, numbers]);

  const columns: Column<RolloutTarget>[] = [
    {
      key: "position",
      header: "Order",
      render: (t) => (t.position === 0 ? <Badge tone="accent">canary</Badge> : <span className="muted">{t.position + 1}</span>),
    },
    {
      key: "server",
      header: "Server",
      render: (t) => (
        <Link to={`/servers/${t.server_id}`} className="strong table-link">
          {t.server_name}
        </Link>
      ),
    },
    { key: "status", header: "Status", render: (t) => <TargetStatusBadge status={t.status} /> },
    {
      key: "generation",
      header: "Generation",
      render: (t) => {
        if (t.generation_id == null) return <span className="muted">—</span>;
        const n = numbers.get(t.generation_id);
        return n != null ? <Link to={generationPath(t.server_id, n)}>#{n}</Link> : <span className="muted small">id {t.generation_id}</span>;
      },
    },
    {
      key: "time",
      header: "Took",
      render: (t) =>
        t.started_at && t.finished_at ? (
          formatDuration(new Date(t.finished_at).getTime() - new Date(t.started_at).getTime())
        ) : t.started_at ? (
          <span title={formatDateTime(t.started_at)}>since {formatRelative(t.started_at)}</span>
        ) : (
          <span className="muted">—</span>
        ),
    },
    { key: "error", header: "Error", className: "col-wide", render: (t) => (t.error ? <span className="text-danger break">{t.error}</span> : <span className="muted">—</span>) },
  ];

  const crumbs = (
    <nav aria-label="Breadcrumb" className="breadcrumb">
      <Link to="/proxy">Proxy</Link>
      <span aria-hidden="true"> / </span>
      <span aria-current="page">Rollout #{rolloutId}</span>
    </nav>
  );

  if (!rollout) {
    return (
      <>
        {crumbs}
        <PageHeader title={`Rollout #${rolloutId}`} />
        <div className="card">{error ? <ErrorState error={error} onRetry={() => void load()} title="Could not load the rollout" /> : <Loading label="Loading the rollout…" />}</div>
      </>
    );
  }

  const r = rollout;
  const p = rolloutProgress(r);
  const pct = p.total ? Math.round((p.done / p.total) * 100) : 100;
  const counts = TARGET_ORDER.map((s) => ({ s, n: r.targets.filter((t) => t.status === s).length })).filter((c) => c.n > 0);
  return (
    <>
      {crumbs}
      <PageHeader
        title={`Rollout #${r.id}`}
        description={
          <span className="header-badges">
            <RolloutStatusBadge status={r.status} />
            <TriggerBadge trigger={r.trigger} />
            <span>
              by {r.actor} · started {formatRelative(r.created_at)}
              {r.reason ? ` · ${r.reason}` : ""}
            </span>
          </span>
        }
        actions={
          r.job_id != null ? (
            <button type="button" className="btn btn-secondary" onClick={() => setOpenJob(true)}>
              Job details
            </button>
          ) : null
        }
      />
      <section className="card" aria-labelledby="ro-progress">
        <h2 className="card-title" id="ro-progress">
          Progress
        </h2>
        <div className="rollout-progress" data-testid="rollout-progress">
          <ProgressBar value={pct} status={barStatus(r)} label={`Rollout ${r.id} progress`} />
          <span className="strong">
            {p.done} of {p.total} server{p.total === 1 ? "" : "s"} done
          </span>
        </div>
        <ul className="chip-list rollout-counts" aria-label="Servers by state">
          {counts.map((c) => (
            <li key={c.s} className="chip">
              {c.n} {c.s}
            </li>
          ))}
        </ul>
        {r.status === "stopped" ? (
          <p className="notice notice-warning">
            The rollout stopped: more than {r.max_failures} server{r.max_failures === 1 ? "" : "s"} failed. The servers it had not reached keep
            their live generation.
          </p>
        ) : null}
        <dl className="facts">
          <div>
            <dt>At once after the canary</dt>
            <dd>{r.max_parallel}</dd>
          </div>
          <div>
            <dt>Failures tolerated</dt>
            <dd>{r.max_failures}</dd>
          </div>
          <div>
            <dt>Started</dt>
            <dd>{formatDateTime(r.created_at)}</dd>
          </div>
          <div>
            <dt>Finished</dt>
            <dd>{r.finished_at ? formatDateTime(r.finished_at) : <span className="muted">running</span>}</dd>
          </div>
        </dl>
      </section>
      <section className="card" aria-labelledby="ro-servers">
        <h2 className="card-title" id="ro-servers">
          Servers
        </h2>
        <DataTable label="Rollout servers" columns={columns} rows={r.targets} rowKey={(t) => t.server_id} />
      </section>
      <JobDrawer jobId={openJob ? r.job_id ?? null : null} onClose={() => setOpenJob(false)} />
    </>
  );
}
