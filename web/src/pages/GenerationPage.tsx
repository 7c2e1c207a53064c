// One generation of a server's proxy (/servers/:id/proxy/generations/:number):
// summary, step timings, nginx's output when it failed, the domains it
// changed, its diff against the generation before it (highlighted), its
// files, and "Roll back to this generation".
import { useCallback, useEffect, useState } from "react";
import { Link, useParams } from "react-router";
import { api, call, hasRole, type Job } from "../api/client";
import { useEvents } from "../api/events";
import { canRollBackTo, getGeneration, proxyState, rollbackTo, shortHash, type GenerationDetail, type ProxyState, type Timings } from "../api/proxy";
import { useMe } from "../auth/AuthContext";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { CodeView, DiffView } from "../components/DiffView";
import { DomainChangesList } from "../components/DomainChangesList";
import { JobDrawer } from "../components/JobDrawer";
import { PageHeader } from "../components/Layout";
import { GenerationStatusBadge, TriggerBadge } from "../components/ProxyBadges";
import { ReasonField } from "../components/ProxyDialogs";
import { ProxyJob } from "../components/ProxyJob";
import { generationPath } from "../components/ServerProxy";
import { ErrorState, Loading } from "../components/States";
import { useToast } from "../components/Toasts";
import { formatDateTime, formatRelative } from "../lib/format";
import { formatDuration } from "../lib/serverCheck";
import { splitLines } from "../lib/nginxHighlight";

const STEPS: { key: keyof Timings; label: string; hint: string }[] = [
  { key: "render_ms", label: "Render", hint: "render and diff" },
  { key: "stage_ms", label: "Stage", hint: "upload and nginx -t" },
  { key: "switch_ms", label: "Switch", hint: "switch and reload" },
  { key: "verify_ms", label: "Verify", hint: "marker and domain checks" },
];

export function TimingBars({ timings }: { timings: Timings }) {
  const total = Math.max(1, timings.total_ms, ...STEPS.map((s) => timings[s.key]));
  return (
    <dl className="timings" data-testid="timings">
      {STEPS.map((s) => (
        <div key={s.key} className="timing-row">
          <dt>
            {s.label} <span className="muted small">({s.hint})</span>
          </dt>
          <dd>
            <span className="timing-bar" aria-hidden="true">
              <span className="timing-fill" style={{ width: `${Math.round((timings[s.key] / total) * 100)}%` }} />
            </span>
            <span className="timing-value">{formatDuration(timings[s.key])}</span>
          </dd>
        </div>
      ))}
      <div className="timing-row timing-total">
        <dt>Total</dt>
        <dd>
          <span className="timing-value">{formatDuration(timings.total_ms)}</span>
        </dd>
      </div>
    </dl>
  );
}

export function GenerationPage() {
  const { id, number } = useParams();
  const serverId = Number(id);
  const n = Number(number);
  const me = useMe();
  const canManage = hasRole(me.role, "operator");
  const toast = useToast();
  const [gen, setGen] = useState<GenerationDetail | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [state, setState] = useState<ProxyState | null>(null);
  const [serverName, setServerName] = useState<string | null>(null);
  const [confirm, setConfirm] = useState(false);
  const [reason, setReason] = useState("");
  const [job, setJob] = useState<Job | null>(null);
  const [result, setResult] = useState<{ status: string; live: number | null } | null>(null);
  const [openJob, setOpenJob] = useState<number | null>(null);

  const load = useCallback(async () => {
    try {
      const [g, s] = await Promise.all([getGeneration(serverId, n), proxyState(serverId)]);
      setGen(g);
      setState(s);
      setServerName(s.server_name);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [serverId, n]);

  useEffect(() => {
    setGen(null);
    setJob(null);
    setResult(null);
    void load();
    // The server's name for the breadcrumb even when the proxy state is not readable.
    call(api.GET("/api/v1/servers/{id}", { params: { path: { id: serverId } } })).then(
      (s) => setServerName(s.name),
      () => undefined,
    );
  }, [load, serverId]);

  useEvents("proxy.", (e) => {
    const p = e.payload as { server_id?: number };
    if (p.server_id === serverId) void load();
  });

  const onFinished = useCallback(
    async (j: Job | null) => {
      let live: number | null = null;
      try {
        const s = await proxyState(serverId);
        setState(s);
        live = s.live?.number ?? null;
      } catch {
        /* the notice says what is known */
      }
      void load();
      setResult({ status: j?.status ?? "failed", live });
      if (j?.status === "succeeded") toast.success(`Rolled back to generation ${n}${live != null ? `: generation ${live} is live` : ""}`);
      else if (j) toast.error(`Rollback to generation ${n} ${j.status}${j.error ? `: ${j.error}` : ""}`);
    },
    [serverId, n, load, toast],
  );

  const crumbs = (
    <nav aria-label="Breadcrumb" className="breadcrumb">
      <Link to="/servers">Servers</Link>
      <span aria-hidden="true"> / </span>
      <Link to={`/servers/${serverId}`}>{serverName ?? `Server ${serverId}`}</Link>
      <span aria-hidden="true"> / </span>
      <span aria-current="page">Generation {n}</span>
    </nav>
  );

  if (!gen) {
    return (
      <>
        {crumbs}
        <PageHeader title={`Generation ${n}`} />
        <div className="card">{error ? <ErrorState error={error} onRetry={() => void load()} title="Could not load the generation" /> : <Loading label="Loading the generation…" />}</div>
      </>
    );
  }

  const g = gen;
  const liveNumber = state?.live?.number ?? null;
  const rollbackable = canRollBackTo(g, liveNumber);
  const files = Object.entries(g.files).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const rollingBack = job != null && result == null;

  return (
    <>
      {crumbs}
      <PageHeader
        title={`Generation ${g.number}`}
        description={
          <span className="header-badges">
            <GenerationStatusBadge status={g.status} />
            <TriggerBadge trigger={g.trigger} />
            <span>
              on <Link to={`/servers/${serverId}`}>{serverName ?? `server ${serverId}`}</Link> · <span className="mono">{shortHash(g.hash)}</span>
            </span>
          </span>
        }
        actions={
          canManage && rollbackable ? (
            <button type="button" className="btn btn-danger-outline" onClick={() => setConfirm(true)} disabled={rollingBack}>
              {rollingBack ? "Rolling back…" : "Roll back to this generation"}
            </button>
          ) : null
        }
      />

      {g.number === liveNumber ? (
        <p className="notice notice-info" data-testid="generation-live">
          This generation is live on {serverName ?? "the server"}.
        </p>
      ) : null}
      {job ? (
        <section className="card" aria-labelledby="gen-rollback">
          <h2 className="card-title" id="gen-rollback">
            Rollback to generation {g.number}
          </h2>
          <ProxyJob key={job.id} jobId={job.id} initial={job} title={`Rolling back to generation ${g.number}`} onFinished={onFinished} />
          {result?.status === "succeeded" && result.live != null ? (
            <p className="notice notice-info" data-testid="rollback-result">
              Generation <Link to={generationPath(serverId, result.live)}>{result.live}</Link> is live: the rollback restored generation {g.number}'s
              exact files. The desired configuration has not changed: the server's plan shows the difference as pending changes.
            </p>
          ) : null}
        </section>
      ) : null}

      <div className="grid grid-2">
        <section className="card" aria-labelledby="gen-summary">
          <h2 className="card-title" id="gen-summary">
            Summary
          </h2>
          <dl className="facts facts-2" data-testid="generation-summary">
            <div>
              <dt>Status</dt>
              <dd>
                <GenerationStatusBadge status={g.status} />
              </dd>
            </div>
            <div>
              <dt>Trigger</dt>
              <dd>
                <TriggerBadge trigger={g.trigger} />
                {g.rollout_id != null ? (
                  <>
                    {" "}
                    <Link to={`/proxy/rollouts/${g.rollout_id}`}>rollout #{g.rollout_id}</Link>
                  </>
                ) : null}
              </dd>
            </div>
            <div>
              <dt>By</dt>
              <dd>{g.actor}</dd>
            </div>
            <div>
              <dt>Reason</dt>
              <dd>{g.reason || <span className="muted">none given</span>}</dd>
            </div>
            <div>
              <dt>Created</dt>
              <dd title={formatRelative(g.created_at)}>{formatDateTime(g.created_at)}</dd>
            </div>
            <div>
              <dt>Finished</dt>
              <dd>{formatDateTime(g.finished_at)}</dd>
            </div>
            <div>
              <dt>Content hash</dt>
              <dd className="mono break small">{g.hash}</dd>
            </div>
            <div>
              <dt>Job</dt>
              <dd>
                {g.job_id != null ? (
                  <button type="button" className="btn btn-ghost btn-sm btn-inline" onClick={() => setOpenJob(g.job_id!)}>
                    #{g.job_id}
                  </button>
                ) : (
                  "—"
                )}
              </dd>
            </div>
          </dl>
        </section>
        <section className="card" aria-labelledby="gen-timings">
          <h2 className="card-title" id="gen-timings">
            Timings
          </h2>
          <TimingBars timings={g.timings} />
        </section>
      </div>

      {g.error || g.nginx_output ? (
        <section className="card card-danger" aria-labelledby="gen-error">
          <h2 className="card-title" id="gen-error">
            {g.status === "failed" ? "Why it failed" : "nginx output"}
          </h2>
          {g.error ? <p className="text-danger">{g.error}</p> : null}
          {g.nginx_output ? (
            <>
              <h3 className="section-title">nginx output</h3>
              <pre className="code-block code-error" data-testid="nginx-output">
                {g.nginx_output}
              </pre>
            </>
          ) : null}
        </section>
      ) : null}

      <section className="card" aria-labelledby="gen-domains">
        <h2 className="card-title" id="gen-domains">
          Domain changes
        </h2>
        <DomainChangesList changes={g.changes} empty="This generation added, changed and removed no domain." />
      </section>

      <section className="card" aria-labelledby="gen-diff">
        <h2 className="card-title" id="gen-diff">
          Changes against the previous generation
        </h2>
        <DiffView diff={g.diff} label={`Diff of generation ${g.number}`} empty="The files are the same as the previous generation's." />
      </section>

      <section className="card" aria-labelledby="gen-files">
        <h2 className="card-title" id="gen-files">
          Files ({files.length})
        </h2>
        <p className="muted small">
          The complete configuration of this generation, as nginx includes it from <code>gantry/live/</code>.
        </p>
        {files.map(([name, content]) => (
          <details key={name} className="file-disclosure">
            <summary>
              <span className="mono">{name}</span> <span className="muted small">{splitLines(content).length} lines</span>
            </summary>
            <CodeView text={content} label={`File ${name}`} />
          </details>
        ))}
      </section>

      <ConfirmDialog
        open={confirm}
        title={`Roll back “${serverName ?? "the server"}” to generation ${g.number}?`}
        confirmLabel="Roll back"
        onClose={() => setConfirm(false)}
        onConfirm={async () => {
          const j = await rollbackTo(serverId, g.number, reason.trim() || null);
          setJob(j);
          setResult(null);
          setReason("");
        }}
      >
        <p>
          Gantry makes a new generation with the exact files of generation <strong>{g.number}</strong>, validates it with <code>nginx -t</code> and
          reloads nginx{liveNumber != null ? ` (generation ${liveNumber} is live now)` : ""}. Changes made since then stop being served.
        </p>
        <p className="muted small">
          The desired configuration stays as it is: it shows as pending changes, and dynamic reconciliation applies it again at its next sweep
          unless you change the domains back or the groups need manual approval.
        </p>
        <ReasonField hint="Optional; shown on the new generation." value={reason} onChange={setReason} />
      </ConfirmDialog>
      <JobDrawer jobId={openJob} onClose={() => setOpenJob(null)} />
    </>
  );
}
