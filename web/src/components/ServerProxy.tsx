// The "Reverse proxy" part of a server's page: the proxy's status and what
// the install found, Install / Check drift / Uninstall, the running job's
// live progress, the pending plan (domains and a highlighted diff) with
// Apply, drifted files with Re-apply, and the generations.
import { useCallback, useEffect, useRef, useState } from "react";
import { Link } from "react-router";
import { hasRole, isApiError, type Job } from "../api/client";
import { useEvents, type GantryEvent } from "../api/events";
import {
  checkDrift,
  installProxy,
  isInstalled,
  listGenerations,
  proxyPlan,
  proxyState,
  shortHash,
  type GenerationSummary,
  type Plan,
  type ProxyState,
} from "../api/proxy";
import { useMe } from "../auth/AuthContext";
import { formatDateTime, formatRelative } from "../lib/format";
import { useCursorList, type CursorQuery } from "../lib/useCursorList";
import { Badge } from "./Badge";
import { DataTable, listPagination, type Column } from "./DataTable";
import { DiffView } from "./DiffView";
import { DomainChangesList, changeCount, changeSummary } from "./DomainChangesList";
import { ApplyDialog, UninstallDialog } from "./ProxyDialogs";
import { GenerationStatusBadge, ProxyStatusBadge, TriggerBadge } from "./ProxyBadges";
import { ProxyJob } from "./ProxyJob";
import { EmptyState, ErrorState, Loading } from "./States";
import { useToast } from "./Toasts";

type JobKind = "install" | "apply" | "reapply" | "uninstall";
const JOB_TITLE: Record<JobKind, string> = {
  install: "Installing the reverse proxy",
  apply: "Applying the pending changes",
  reapply: "Re-applying the configuration",
  uninstall: "Uninstalling the reverse proxy",
};
const JOB_DONE: Record<JobKind, string> = {
  install: "Reverse proxy installed on",
  apply: "Changes applied to",
  reapply: "Configuration re-applied to",
  uninstall: "Reverse proxy uninstalled from",
};

type GenFilters = { server: number };
function fetchGenerations({ filters, cursor, limit }: CursorQuery<GenFilters>) {
  return listGenerations(filters.server, cursor, limit);
}

function payloadServer(e: GantryEvent): number | undefined {
  const p = e.payload as { server_id?: unknown } | null;
  return typeof p?.server_id === "number" ? p.server_id : undefined;
}

export function generationPath(serverId: number, number: number): string {
  return `/servers/${serverId}/proxy/generations/${number}`;
}

export function ServerProxy({ serverId, serverName }: { serverId: number; serverName: string }) {
  const me = useMe();
  const canManage = hasRole(me.role, "operator");
  const toast = useToast();
  const [state, setState] = useState<ProxyState | null>(null);
  const [stateError, setStateError] = useState<unknown>(null);
  const [plan, setPlan] = useState<Plan | null>(null);
  const [planError, setPlanError] = useState<unknown>(null);
  const [job, setJob] = useState<{ id: number; job: Job; kind: JobKind } | null>(null);
  const [jobRunning, setJobRunning] = useState(false);
  const [starting, setStarting] = useState(false);
  const [checking, setChecking] = useState(false);
  const [dialog, setDialog] = useState<"apply" | "reapply" | "uninstall" | null>(null);
  const gens = useCursorList<GenerationSummary, GenFilters>(fetchGenerations, { server: serverId }, 10);
  const reloadGens = gens.reload;

  const loadPlan = useCallback(async () => {
    try {
      setPlan(await proxyPlan(serverId));
      setPlanError(null);
    } catch (e) {
      // 409 invalid_state: not installed (any more); the state card says so.
      if (isApiError(e) && e.code === "invalid_state") setPlan(null);
      else setPlanError(e);
    }
  }, [serverId]);

  const load = useCallback(async () => {
    try {
      const s = await proxyState(serverId);
      setState(s);
      setStateError(null);
      if (isInstalled(s)) void loadPlan();
      else setPlan(null);
    } catch (e) {
      setStateError(e);
    }
  }, [serverId, loadPlan]);

  useEffect(() => {
    setState(null);
    setPlan(null);
    setJob(null);
    void load();
  }, [load]);

  // This server's proxy events: re-read the state (and the generations when one went live or failed).
  useEvents("proxy.", (e) => {
    if (payloadServer(e) !== serverId && !(e.entity_type === "server" && e.entity_id === String(serverId))) return;
    void load();
    if (e.kind === "proxy.applied") reloadGens();
  });
  // Domain and group edits change the desired configuration: re-read the plan (once per burst).
  const planTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const schedulePlan = useCallback(() => {
    if (planTimer.current) clearTimeout(planTimer.current);
    planTimer.current = setTimeout(() => void load(), 400);
  }, [load]);
  useEffect(() => () => {
    if (planTimer.current) clearTimeout(planTimer.current);
  }, []);
  useEvents("domain.", schedulePlan);
  useEvents("domain_group.", schedulePlan);

  const onJobFinished = useCallback(
    (j: Job | null) => {
      setJobRunning(false);
      void load();
      reloadGens();
      const kind = job?.kind ?? "apply";
      if (j?.status === "succeeded") toast.success(`${JOB_DONE[kind]} “${serverName}”`);
      else if (j) toast.error(`${JOB_TITLE[kind]} on “${serverName}” ${j.status}${j.error ? `: ${j.error}` : ""}`);
    },
    [load, reloadGens, job?.kind, serverName, toast],
  );

  function started(kind: JobKind, j: Job) {
    setJob({ id: j.id, job: j, kind });
    setJobRunning(true);
    setDialog(null);
  }

  async function install() {
    setStarting(true);
    try {
      started("install", await installProxy(serverId));
    } catch (e) {
      toast.error(isApiError(e) ? e.detail : String(e));
    } finally {
      setStarting(false);
    }
  }

  async function driftCheck() {
    setChecking(true);
    try {
      const report = await checkDrift(serverId);
      if (report.files.length === 0) toast.success(`No drift on “${serverName}”: its files match generation ${report.generation ?? "—"}`);
      else
        toast.error(
          `Drift on “${serverName}”: ${report.files.length === 1 ? "1 file differs" : `${report.files.length} files differ`} from generation ${report.generation ?? "—"}`,
        );
      setState((s) => (s ? { ...s, drift: report.files.length ? report : null, drift_checked_at: report.checked_at } : s));
      void load();
    } catch (e) {
      toast.error(isApiError(e) ? e.detail : String(e));
    } finally {
      setChecking(false);
    }
  }

  const genColumns: Column<GenerationSummary>[] = [
    {
      key: "number",
      header: "Generation",
      render: (g) => (
        <div className="cell-server">
          <Link to={generationPath(serverId, g.number)} className="strong table-link" aria-label={`Generation ${g.number}`}>
            #{g.number}
          </Link>
          <span className="mono muted small">{shortHash(g.hash)}</span>
        </div>
      ),
    },
    { key: "status", header: "Status", render: (g) => <GenerationStatusBadge status={g.status} /> },
    {
      key: "trigger",
      header: "Trigger",
      render: (g) => {
        const of = g.rollback_of != null ? gens.items?.find((x) => x.id === g.rollback_of) : undefined;
        return (
          <span className="trigger-cell">
            <TriggerBadge trigger={g.trigger} />
            {g.rollback_of != null ? <span className="muted small">{of ? ` of #${of.number}` : " of an earlier generation"}</span> : null}
            {g.rollout_id != null ? (
              <Link to={`/proxy/rollouts/${g.rollout_id}`} className="small">
                {" "}
                rollout #{g.rollout_id}
              </Link>
            ) : null}
          </span>
        );
      },
    },
    { key: "changes", header: "Domains", render: (g) => <span className="small">{changeSummary(g)}</span> },
    {
      key: "reason",
      header: "Reason",
      className: "col-wide",
      render: (g) => (g.error ? <span className="truncate text-danger" title={g.error}>{g.error}</span> : <span className="truncate" title={g.reason ?? undefined}>{g.reason || "—"}</span>),
    },
    { key: "actor", header: "By", render: (g) => <span className="small">{g.actor}</span> },
    { key: "created", header: "Created", render: (g) => <span title={formatDateTime(g.created_at)}>{formatRelative(g.created_at)}</span> },
  ];

  if (!state) {
    return (
      <section className="card" aria-labelledby="sd-proxy">
        <h2 className="card-title" id="sd-proxy">
          Reverse proxy
        </h2>
        {stateError ? <ErrorState error={stateError} onRetry={() => void load()} title="Could not load the proxy state" /> : <Loading label="Loading the proxy state…" />}
      </section>
    );
  }

  const s = state;
  const installed = isInstalled(s);
  const info = s.install ?? null;
  const busy = jobRunning || s.status === "installing" || s.status === "applying" || s.inflight_generation_id != null;
  const drift = s.drift && s.drift.files.length > 0 ? s.drift : null;
  const pending = plan != null && plan.reload_needed;

  return (
    <>
      <section className="card" aria-labelledby="sd-proxy" data-testid="proxy-card">
        <div className="card-head">
          <h2 className="card-title" id="sd-proxy">
            Reverse proxy
          </h2>
          {canManage ? (
            <div className="card-actions">
              {!installed ? (
                <button type="button" className="btn btn-primary" onClick={install} disabled={starting || busy}>
                  {starting || (busy && job?.kind === "install") || s.status === "installing" ? "Installing…" : "Install"}
                </button>
              ) : (
                <>
                  <button type="button" className="btn btn-secondary" onClick={driftCheck} disabled={checking || busy}>
                    {checking ? "Checking…" : "Check drift"}
                  </button>
                  <button type="button" className="btn btn-danger-outline" onClick={() => setDialog("uninstall")} disabled={busy}>
                    Uninstall
                  </button>
                </>
              )}
            </div>
          ) : null}
        </div>
        <div className="status-line" data-testid="proxy-status">
          <ProxyStatusBadge status={s.status} />
          {s.status_message ? <span className="status-message">{s.status_message}</span> : null}
        </div>
        {info && installed ? (
          <>
            <dl className="facts" data-testid="proxy-install">
              <div>
                <dt>Operating system</dt>
                <dd>{info.os_name}</dd>
              </div>
              <div>
                <dt>nginx</dt>
                <dd className="mono">{info.nginx_version}</dd>
              </div>
              <div>
                <dt>Init</dt>
                <dd>{info.systemd ? "systemd (enabled at boot)" : "no systemd: Gantry starts nginx"}</dd>
              </div>
              <div>
                <dt>Configuration</dt>
                <dd className="mono break">{info.conf_dir}</dd>
              </div>
              <div>
                <dt>Live generation</dt>
                <dd>
                  {s.live ? (
                    <>
                      <Link to={generationPath(serverId, s.live.number)}>#{s.live.number}</Link>{" "}
                      <span className="muted small mono">{shortHash(s.live.hash)}</span>
                    </>
                  ) : (
                    "none"
                  )}
                </dd>
              </div>
              <div>
                <dt>Last change</dt>
                <dd title={formatDateTime(s.live?.finished_at ?? s.updated_at)}>{formatRelative(s.live?.finished_at ?? s.updated_at)}</dd>
              </div>
              <div>
                <dt>Drift checked</dt>
                <dd title={formatDateTime(s.drift_checked_at)}>{s.drift_checked_at ? formatRelative(s.drift_checked_at) : "not yet"}</dd>
              </div>
              <div>
                <dt>Status port</dt>
                <dd className="mono">127.0.0.1:{info.status_port}</dd>
              </div>
            </dl>
            {info.notes.length > 0 ? (
              <ul className="notice notice-info proxy-notes" aria-label="Install notes">
                {info.notes.map((n, i) => (
                  <li key={i}>{n}</li>
                ))}
              </ul>
            ) : null}
          </>
        ) : !job ? (
          <p className="muted">
            Gantry has not installed its reverse proxy on this server. Installing detects the OS, installs nginx with the package manager
            (apt or dnf) unless it is there already, adds Gantry's configuration next to the server's own and applies the domains of the
            groups bound to this server.
          </p>
        ) : null}
        {job ? <ProxyJob key={job.id} jobId={job.id} initial={job.job} title={JOB_TITLE[job.kind]} onFinished={onJobFinished} /> : null}
      </section>

      {drift ? (
        <section className="card card-warning" aria-labelledby="sd-drift" data-testid="proxy-drift">
          <div className="card-head">
            <div>
              <h2 className="card-title" id="sd-drift">
                Drift: {drift.files.length === 1 ? "1 file differs" : `${drift.files.length} files differ`} from generation {drift.generation ?? "—"}
              </h2>
              <p className="muted small">
                Checked {formatRelative(drift.checked_at)}. Someone changed Gantry's files on the server by hand; the diffs show what was expected
                and what was found.
              </p>
            </div>
            {canManage ? (
              <div className="card-actions">
                <button type="button" className="btn btn-danger" onClick={() => setDialog("reapply")} disabled={busy}>
                  Re-apply
                </button>
              </div>
            ) : null}
          </div>
          {drift.files.map((f) => (
            <div key={f.path} className="drift-file">
              <div className="drift-file-head">
                <span className="mono break">{f.path}</span>
                <Badge tone={f.kind === "changed" ? "warning" : "danger"}>{f.kind}</Badge>
              </div>
              <DiffView diff={f.diff} label={`Drift of ${f.path}`} empty="The file differs, but no line diff is available." />
            </div>
          ))}
        </section>
      ) : null}

      {installed ? (
        <section className="card" aria-labelledby="sd-plan" data-testid="proxy-plan">
          <div className="card-head">
            <div>
              <h2 className="card-title" id="sd-plan">
                Pending changes
              </h2>
              {plan ? (
                <p className="muted small">
                  {pending
                    ? `Live: generation ${plan.live_number ?? "—"}. Applying validates the new configuration with nginx -t, switches to it and reloads nginx.`
                    : `Nothing pending: generation ${plan.live_number ?? "—"} matches the desired configuration.`}
                </p>
              ) : null}
            </div>
            {canManage && pending ? (
              <div className="card-actions">
                <button type="button" className="btn btn-primary" onClick={() => setDialog("apply")} disabled={busy}>
                  Apply changes…
                </button>
              </div>
            ) : null}
          </div>
          {plan ? (
            pending ? (
              <>
                {plan.awaiting_approval.length > 0 ? (
                  <p className="notice notice-warning" data-testid="awaiting-approval">
                    Waiting for approval: {plan.awaiting_approval.join(", ")}. These groups need manual approval, so their changes go live
                    only when an operator applies them.
                  </p>
                ) : null}
                <h3 className="section-title">Domains</h3>
                <DomainChangesList changes={plan.domains} empty="No domain is added, changed or removed (other configuration changes)." />
                <h3 className="section-title">Configuration diff</h3>
                <DiffView diff={plan.diff} label="Pending configuration diff" />
              </>
            ) : null
          ) : planError ? (
            <ErrorState error={planError} onRetry={() => void loadPlan()} title="Could not compute the plan" />
          ) : (
            <Loading label="Computing the plan…" />
          )}
        </section>
      ) : null}

      {installed || (gens.items && gens.items.length > 0) ? (
        <section className="card" aria-labelledby="sd-generations">
          <h2 className="card-title" id="sd-generations">
            Generations
          </h2>
          <DataTable
            label="Generations"
            columns={genColumns}
            rows={gens.items}
            rowKey={(g) => g.id}
            loading={gens.loading}
            error={gens.error}
            onRetry={gens.reload}
            empty={
              <EmptyState title="No generations yet" icon="▤">
                <p>Each apply writes a generation: the complete configuration, kept so you can compare and roll back.</p>
              </EmptyState>
            }
            pagination={listPagination(gens, [10, 25, 50])}
          />
        </section>
      ) : null}

      <ApplyDialog open={dialog === "apply"} serverId={serverId} serverName={serverName} onClose={() => setDialog(null)} onStarted={(j) => started("apply", j)}>
        {plan ? (
          <p>
            {changeCount(plan.domains) > 0 ? `Domains: ${changeSummary({ added: plan.domains.added.length, changed: plan.domains.changed.length, removed: plan.domains.removed.length })}. ` : ""}
            nginx on <strong>{serverName}</strong> is reloaded with the new configuration once <code>nginx -t</code> accepts it; if anything
            fails, the live generation keeps serving.
          </p>
        ) : null}
      </ApplyDialog>
      <ApplyDialog
        open={dialog === "reapply"}
        serverId={serverId}
        serverName={serverName}
        force
        onClose={() => setDialog(null)}
        onStarted={(j) => started("reapply", j)}
      >
        <p>
          Gantry writes a new generation with the desired configuration and reloads nginx, even if nothing changed.{" "}
          <strong>Hand edits of Gantry's files on {serverName} are overwritten</strong>, and extra files in its directory are removed. The
          server's own nginx configuration is left alone.
        </p>
      </ApplyDialog>
      <UninstallDialog open={dialog === "uninstall"} serverId={serverId} serverName={serverName} onClose={() => setDialog(null)} onStarted={(j) => started("uninstall", j)} />
    </>
  );
}
