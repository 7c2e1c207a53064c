// The Proxy module (/proxy): every server's reverse proxy at a glance
// (status, live generation, last change), "Roll out pending changes", and
// the fleet rollouts. Live: proxy events re-read the overview and the list.
import { useCallback, useEffect, useRef, useState } from "react";
import { Link, useNavigate } from "react-router";
import { hasRole } from "../api/client";
import { useEvents } from "../api/events";
import { listRollouts, proxyStates, shortHash, type ProxyState, type ProxyStatus, type Rollout } from "../api/proxy";
import { useMe } from "../auth/AuthContext";
import { DataTable, listPagination, type Column } from "../components/DataTable";
import { PageHeader } from "../components/Layout";
import { PROXY_COUNT_LABELS, ProxyStatusBadge, RolloutStatusBadge, TriggerBadge } from "../components/ProxyBadges";
import { RolloutDialog } from "../components/RolloutDialog";
import { generationPath } from "../components/ServerProxy";
import { EmptyState } from "../components/States";
import { useToast } from "../components/Toasts";
import { formatDateTime, formatRelative } from "../lib/format";
import { useCursorList, type CursorQuery } from "../lib/useCursorList";
import { useUrlFilters } from "../lib/useUrlFilters";
import { SelectField } from "../components/Form";

const STATUS_ORDER: ProxyStatus[] = ["degraded", "drifted", "pending", "applying", "installing", "in_sync", "not_installed"];

/** Counts per status, in the order an operator cares about (problems first). */
export function statusCounts(states: ProxyState[]): { status: ProxyStatus; count: number }[] {
  const counts = new Map<ProxyStatus, number>();
  for (const s of states) counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
  return STATUS_ORDER.filter((s) => counts.has(s)).map((status) => ({ status, count: counts.get(status)! }));
}

/** "3 of 5 done, 1 failed" for a rollout's targets. */
export function rolloutProgress(r: Rollout): { done: number; failed: number; total: number } {
  const total = r.targets.length;
  const done = r.targets.filter((t) => t.status === "succeeded" || t.status === "unchanged" || t.status === "failed" || t.status === "skipped").length;
  const failed = r.targets.filter((t) => t.status === "failed").length;
  return { done, failed, total };
}

/** The servers table's filter in the URL (`/proxy?status=degraded`, e.g. from a dashboard tile). */
const PROXY_FILTERS = ["status"] as const;

/** The states with one status (all when none is given). */
export function filterProxyStates(states: ProxyState[], status: string): ProxyState[] {
  return status ? states.filter((s) => s.status === status) : states;
}

type NoFilters = Record<string, never>;
function fetchRollouts({ cursor, limit }: CursorQuery<NoFilters>) {
  return listRollouts(cursor, limit);
}

export function ProxyPage() {
  const me = useMe();
  const canManage = hasRole(me.role, "operator");
  const toast = useToast();
  const navigate = useNavigate();
  const [states, setStates] = useState<ProxyState[] | undefined>(undefined);
  const [statesError, setStatesError] = useState<unknown>(null);
  const [statesLoading, setStatesLoading] = useState(true);
  const [creating, setCreating] = useState(false);
  const rollouts = useCursorList<Rollout, NoFilters>(fetchRollouts, {}, 10);
  const [f, setF] = useUrlFilters(PROXY_FILTERS);

  const loadStates = useCallback(async () => {
    setStatesLoading(true);
    try {
      setStates(await proxyStates());
      setStatesError(null);
    } catch (e) {
      setStatesError(e);
    } finally {
      setStatesLoading(false);
    }
  }, []);
  useEffect(() => {
    void loadStates();
  }, [loadStates]);

  // Bursts of proxy events (a rollout over many servers) re-read the overview once.
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => {
    if (timer.current) clearTimeout(timer.current);
  }, []);
  const { reload: reloadRollouts } = rollouts;
  useEvents("proxy.", (e) => {
    if (e.kind === "proxy.rollout_updated") reloadRollouts();
    if (timer.current) clearTimeout(timer.current);
    timer.current = setTimeout(() => void loadStates(), 300);
  });
  useEvents("server.", () => void loadStates());

  const stateColumns: Column<ProxyState>[] = [
    {
      key: "server",
      header: "Server",
      render: (s) => (
        <Link to={`/servers/${s.server_id}`} className="strong table-link">
          {s.server_name}
        </Link>
      ),
    },
    {
      key: "status",
      header: "Status",
      className: "col-wide",
      render: (s) => (
        <div className="cell-status">
          <ProxyStatusBadge status={s.status} />
          {s.status_message ? (
            <span className="muted small truncate status-msg" title={s.status_message}>
              {s.status_message}
            </span>
          ) : null}
        </div>
      ),
    },
    {
      key: "live",
      header: "Live generation",
      render: (s) =>
        s.live ? (
          <span className="trigger-cell">
            <Link to={generationPath(s.server_id, s.live.number)}>#{s.live.number}</Link> <span className="mono muted small">{shortHash(s.live.hash)}</span>{" "}
            <TriggerBadge trigger={s.live.trigger} />
          </span>
        ) : (
          <span className="muted">none</span>
        ),
    },
    { key: "nginx", header: "nginx", render: (s) => (s.install ? <span className="mono small">{s.install.nginx_version}</span> : <span className="muted">—</span>) },
    {
      key: "changed",
      header: "Last change",
      render: (s) => {
        const at = s.live?.finished_at ?? s.updated_at;
        return <span title={formatDateTime(at)}>{formatRelative(at)}</span>;
      },
    },
  ];

  const rolloutColumns: Column<Rollout>[] = [
    {
      key: "id",
      header: "Rollout",
      render: (r) => (
        <Link to={`/proxy/rollouts/${r.id}`} className="strong table-link" aria-label={`Rollout ${r.id}`}>
          #{r.id}
        </Link>
      ),
    },
    { key: "status", header: "Status", render: (r) => <RolloutStatusBadge status={r.status} /> },
    {
      key: "servers",
      header: "Servers",
      render: (r) => {
        const p = rolloutProgress(r);
        const canary = r.targets.find((t) => t.position === 0);
        return (
          <div className="cell-server">
            <span>
              {p.done} of {p.total} done{p.failed ? <span className="text-danger">, {p.failed} failed</span> : null}
            </span>
            {canary ? <span className="muted small">canary: {canary.server_name}</span> : null}
          </div>
        );
      },
    },
    { key: "limits", header: "Parallel / tolerated", render: (r) => <span className="small">{r.max_parallel} / {r.max_failures}</span> },
    { key: "reason", header: "Reason", className: "col-wide", render: (r) => <span className="truncate" title={r.reason ?? undefined}>{r.reason || "—"}</span> },
    {
      key: "by",
      header: "By",
      render: (r) => (
        <span className="trigger-cell">
          <span className="small">{r.actor}</span> <TriggerBadge trigger={r.trigger} />
        </span>
      ),
    },
    { key: "created", header: "Started", render: (r) => <span title={formatDateTime(r.created_at)}>{formatRelative(r.created_at)}</span> },
  ];

  const counts = states ? statusCounts(states) : [];
  return (
    <>
      <PageHeader
        title="Proxy"
        description="The nginx reverse proxy on each server: what is live, what waits, and fleet rollouts."
        actions={
          canManage ? (
            <button type="button" className="btn btn-primary" onClick={() => setCreating(true)} disabled={!states}>
              Roll out pending changes
            </button>
          ) : null
        }
      />
      <section className="card" aria-labelledby="px-servers">
        <div className="card-head">
          <h2 className="card-title" id="px-servers">
            Servers
          </h2>
          {counts.length > 0 ? (
            <ul className="chip-list chip-list-tight" aria-label="Proxy status counts" data-testid="proxy-counts">
              {counts.map((c) => (
                <li key={c.status} className="chip">
                  {c.count} {PROXY_COUNT_LABELS[c.status]}
                </li>
              ))}
            </ul>
          ) : null}
        </div>
        <form className="filters" role="search" aria-label="Filter proxy servers" onSubmit={(e) => e.preventDefault()}>
          <SelectField
            label="Status"
            name="status"
            value={f.status}
            onChange={(e) => setF({ status: e.target.value })}
            options={[{ value: "", label: "Any status" }, ...STATUS_ORDER.map((st) => ({ value: st, label: PROXY_COUNT_LABELS[st] }))]}
          />
          {f.status ? (
            <button type="button" className="btn btn-ghost filters-clear" onClick={() => setF({ status: "" })}>
              Clear filters
            </button>
          ) : null}
        </form>
        <DataTable
          label="Proxy servers"
          columns={stateColumns}
          rows={states ? filterProxyStates(states, f.status) : states}
          rowKey={(s) => s.server_id}
          loading={statesLoading}
          error={statesError}
          onRetry={() => void loadStates()}
          empty={
            f.status && states && states.length > 0 ? (
              <EmptyState title="No proxy servers match this status" />
            ) : (
            <EmptyState title="No servers yet" icon="⇄" action={canManage ? <Link to="/servers/new" className="btn btn-secondary">Add a server</Link> : null}>
              <p>Add a server, then install the reverse proxy from its page.</p>
            </EmptyState>
            )
          }
        />
      </section>
      <section className="card" aria-labelledby="px-rollouts">
        <h2 className="card-title" id="px-rollouts">
          Rollouts
        </h2>
        <DataTable
          label="Rollouts"
          columns={rolloutColumns}
          rows={rollouts.items}
          rowKey={(r) => r.id}
          loading={rollouts.loading}
          error={rollouts.error}
          onRetry={rollouts.reload}
          onRowClick={(r) => navigate(`/proxy/rollouts/${r.id}`)}
          rowLabel={(r) => `Rollout ${r.id}, ${r.status}`}
          empty={
            <EmptyState title="No rollouts yet" icon="⇪">
              <p>A rollout applies changes to many servers: a canary first, then a few at a time, stopping when too many fail.</p>
            </EmptyState>
          }
          pagination={listPagination(rollouts, [10, 25, 50])}
        />
      </section>
      <RolloutDialog
        open={creating}
        states={states ?? []}
        onClose={() => setCreating(false)}
        onCreated={(r) => {
          setCreating(false);
          toast.success(`Rollout #${r.id} started on ${r.targets.length} server${r.targets.length === 1 ? "" : "s"}`);
          navigate(`/proxy/rollouts/${r.id}`);
        }}
      />
    </>
  );
}
