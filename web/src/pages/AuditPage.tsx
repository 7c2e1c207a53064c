import { api, call, type AuditRecord } from "../api/client";
import { RoleBadge } from "../components/Badge";
import { DataTable, listPagination, type Column } from "../components/DataTable";
import { TextField } from "../components/Form";
import { PageHeader } from "../components/Layout";
import { EmptyState } from "../components/States";
import { formatDateTime, localInputToRfc3339 } from "../lib/format";
import { useCursorList, type CursorQuery } from "../lib/useCursorList";
import { useDebounced } from "../lib/useDebounced";
import { useUrlFilters } from "../lib/useUrlFilters";

const FILTERS = ["actor", "entity_type", "entity_id", "action", "since", "until"] as const;
type AuditFilters = Record<(typeof FILTERS)[number], string>;

function fetchAudit({ filters, cursor, limit }: CursorQuery<AuditFilters>) {
  return call(
    api.GET("/api/v1/audit", {
      params: {
        query: {
          actor: filters.actor || undefined,
          entity_type: filters.entity_type || undefined,
          entity_id: filters.entity_id || undefined,
          action: filters.action || undefined,
          since: localInputToRfc3339(filters.since),
          until: localInputToRfc3339(filters.until),
          cursor,
          limit,
        },
      },
    }),
  );
}

export function AuditPage() {
  const [f, setF] = useUrlFilters(FILTERS);
  // Text filters hit the API 300 ms after the last keystroke (debounce a string, not an object).
  const textKey = useDebounced(JSON.stringify([f.actor.trim(), f.entity_type.trim(), f.entity_id.trim(), f.action.trim()]));
  const [actor, entity_type, entity_id, action] = JSON.parse(textKey) as string[];
  const text = { actor, entity_type, entity_id, action };
  const list = useCursorList<AuditRecord, AuditFilters>(fetchAudit, { ...text, since: f.since, until: f.until }, 50);

  const columns: Column<AuditRecord>[] = [
    { key: "at", header: "Time", render: (r) => <time dateTime={r.at}>{formatDateTime(r.at)}</time> },
    {
      key: "actor",
      header: "Actor",
      render: (r) => (
        <span className="cell-actor">
          <span className="strong">{r.actor_name}</span>
          {r.actor_role ? <RoleBadge role={r.actor_role} /> : null}
        </span>
      ),
    },
    { key: "action", header: "Action", render: (r) => <code className="action-code">{r.action}</code> },
    {
      key: "entity",
      header: "Entity",
      render: (r) => (
        <span className="mono">
          {r.entity_type}
          {r.entity_id ? ` #${r.entity_id}` : ""}
        </span>
      ),
    },
    { key: "ip", header: "Client IP", render: (r) => <span className="mono small">{r.client_ip ?? "—"}</span> },
    { key: "request", header: "Request id", render: (r) => <span className="mono small muted">{r.request_id ?? "—"}</span> },
  ];

  const filtered = FILTERS.some((k) => f[k]);
  return (
    <>
      <PageHeader title="Audit log" description="Every change and sign-in, newest first. Secrets are never recorded." />
      <div className="card">
          <form className="filters filters-4" role="search" aria-label="Filter the audit log" onSubmit={(e) => e.preventDefault()}>
            <TextField label="Actor" name="actor" placeholder="username" value={f.actor} onChange={(e) => setF({ actor: e.target.value })} />
            <TextField label="Action" name="action" placeholder="user.create or user." value={f.action} onChange={(e) => setF({ action: e.target.value })} />
            <TextField label="Entity type" name="entity_type" placeholder="user, token, job…" value={f.entity_type} onChange={(e) => setF({ entity_type: e.target.value })} />
            <TextField label="Entity id" name="entity_id" placeholder="e.g. 42" value={f.entity_id} onChange={(e) => setF({ entity_id: e.target.value })} />
            <TextField label="From" name="since" type="datetime-local" value={f.since} onChange={(e) => setF({ since: e.target.value })} />
            <TextField label="Until" name="until" type="datetime-local" value={f.until} onChange={(e) => setF({ until: e.target.value })} />
            {filtered ? (
              <button type="button" className="btn btn-ghost filters-clear" onClick={() => setF({ actor: "", action: "", entity_type: "", entity_id: "", since: "", until: "" })}>
                Clear filters
              </button>
            ) : null}
          </form>
        <DataTable
          label="Audit records"
          columns={columns}
          rows={list.items}
          rowKey={(r) => r.id}
          loading={list.loading}
          error={list.error}
          onRetry={list.reload}
          renderExpanded={(r) => <AuditDetail record={r} />}
          expandLabel={(r) => `Details of ${r.action} on ${r.entity_type}${r.entity_id ? ` ${r.entity_id}` : ""}`}
          empty={filtered ? <EmptyState title="No audit records match these filters" /> : <EmptyState title="The audit log is empty" />}
          pagination={listPagination(list)}
        />
      </div>
    </>
  );
}

type Summary = { before?: Record<string, unknown> | null; after?: Record<string, unknown> | null } & Record<string, unknown>;

function show(v: unknown): string {
  if (v === undefined) return "—";
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

/** The before/after summary as a field-by-field table; other keys as JSON. */
export function AuditDetail({ record }: { record: AuditRecord }) {
  const s = (record.summary ?? {}) as Summary;
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  const before = isObj(s.before) ? s.before : null;
  const after = isObj(s.after) ? s.after : null;
  const fields = Array.from(new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])).sort();
  const rest = isObj(s) ? Object.fromEntries(Object.entries(s).filter(([k]) => k !== "before" && k !== "after")) : {};

  return (
    <div className="audit-detail">
      {fields.length > 0 ? (
        <table className="diff-table">
          <caption className="sr-only">Changes</caption>
          <thead>
            <tr>
              <th scope="col">Field</th>
              <th scope="col">Before</th>
              <th scope="col">After</th>
            </tr>
          </thead>
          <tbody>
            {fields.map((k) => {
              const b = before?.[k];
              const a = after?.[k];
              const changed = JSON.stringify(b) !== JSON.stringify(a);
              return (
                <tr key={k} className={changed ? "diff-changed" : undefined}>
                  <th scope="row" className="mono">{k}</th>
                  <td className={`mono diff-before${before && k in before ? " diff-has" : ""}`}>{before ? show(b) : "—"}</td>
                  <td className={`mono diff-after${after && k in after ? " diff-has" : ""}`}>{after ? show(a) : "—"}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : (
        <p className="muted small">No before/after summary for this record.</p>
      )}
      {Object.keys(rest).length > 0 ? <pre className="code-block">{JSON.stringify(rest, null, 2)}</pre> : null}
      <p className="muted small">
        Record #{record.id}
        {record.request_id ? <> · request <code>{record.request_id}</code></> : null}
      </p>
    </div>
  );
}
