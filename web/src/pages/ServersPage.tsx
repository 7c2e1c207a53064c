import { Link } from "react-router";
import { api, call, hasRole, type Server, type ServerStatus } from "../api/client";
import { useEvents, type GantryEvent, type ServerStatusChange } from "../api/events";
import { useMe } from "../auth/AuthContext";
import { SERVER_STATUS_LABELS, ServerStatusBadge } from "../components/Badge";
import { DataTable, listPagination, type Column } from "../components/DataTable";
import { SelectField, TextField } from "../components/Form";
import { PageHeader } from "../components/Layout";
import { EmptyState } from "../components/States";
import { formatDateTime, formatRelative } from "../lib/format";
import { useCursorList, type CursorQuery } from "../lib/useCursorList";
import { useDebounced } from "../lib/useDebounced";
import { useUrlFilters } from "../lib/useUrlFilters";

const FILTERS = ["q", "status", "label"] as const;
type ServerFilters = { q: string; status: string; label: string };

const STATUS_OPTIONS = [
  { value: "", label: "Any status" },
  ...(Object.keys(SERVER_STATUS_LABELS) as ServerStatus[]).map((s) => ({ value: s, label: SERVER_STATUS_LABELS[s] })),
];

function fetchServers({ filters, cursor, limit }: CursorQuery<ServerFilters>) {
  return call(
    api.GET("/api/v1/servers", {
      params: {
        query: {
          q: filters.q || undefined,
          status: (filters.status || undefined) as ServerStatus | undefined,
          label: filters.label || undefined,
          cursor,
          limit,
        },
      },
    }),
  );
}

export function LabelChips({ labels }: { labels: Record<string, string> }) {
  const entries = Object.entries(labels);
  if (entries.length === 0) return <span className="muted">—</span>;
  return (
    <ul className="chip-list chip-list-tight" aria-label="Labels">
      {entries.map(([k, v]) => (
        <li key={k} className="chip mono">
          {k}={v}
        </li>
      ))}
    </ul>
  );
}

export function ServersPage() {
  const me = useMe();
  const canManage = hasRole(me.role, "operator");
  const [f, setF] = useUrlFilters(FILTERS);
  const q = useDebounced(f.q.trim());
  const label = useDebounced(f.label.trim());
  const list = useCursorList<Server, ServerFilters>(fetchServers, { q, status: f.status, label }, 25);

  // A server's status changed (a check, a probe): update its badge in place,
  // or re-read the page when a status filter may now exclude or include it.
  useEvents("server.", (e: GantryEvent) => {
    if (e.kind !== "server.status_changed") return list.reload();
    const p = e.payload as ServerStatusChange;
    if (f.status) return list.reload();
    list.updateItem(
      (s) => s.id === p.server_id,
      (s) => ({ ...s, status: p.to, status_message: p.message ?? null }),
    );
  });

  const columns: Column<Server>[] = [
    {
      key: "name",
      header: "Server",
      render: (s) => (
        <div className="cell-server">
          <Link to={`/servers/${s.id}`} className="strong table-link">
            {s.name}
          </Link>
          {s.description ? <div className="muted small truncate server-desc">{s.description}</div> : null}
        </div>
      ),
    },
    {
      key: "status",
      header: "Status",
      render: (s) => (
        <span title={s.status_message ?? undefined}>
          <ServerStatusBadge status={s.status} />
        </span>
      ),
    },
    { key: "address", header: "Address", render: (s) => <span className="mono">{s.port === 22 ? s.address : `${s.address}:${s.port}`}</span> },
    {
      key: "user",
      header: "User",
      render: (s) => (
        <span>
          <span className="mono">{s.ssh_user}</span>
          <span className="muted small"> · {s.privilege}</span>
        </span>
      ),
    },
    { key: "labels", header: "Labels", render: (s) => <LabelChips labels={s.labels} /> },
    {
      key: "last_seen",
      header: "Last seen",
      render: (s) => <span title={formatDateTime(s.last_seen_at)}>{formatRelative(s.last_seen_at)}</span>,
    },
  ];

  const filtered = Boolean(f.q || f.status || f.label);
  return (
    <>
      <PageHeader
        title="Servers"
        description="Hosts Gantry manages over SSH, and whether it can reach them."
        actions={
          canManage ? (
            <Link to="/servers/new" className="btn btn-primary">
              Add server
            </Link>
          ) : null
        }
      />
      <div className="card">
        <form className="filters" role="search" aria-label="Filter servers" onSubmit={(e) => e.preventDefault()}>
          <TextField label="Search" name="q" type="search" placeholder="Name or address" value={f.q} onChange={(e) => setF({ q: e.target.value })} />
          <SelectField label="Status" name="status" value={f.status} onChange={(e) => setF({ status: e.target.value })} options={STATUS_OPTIONS} />
          <TextField label="Label" name="label" placeholder="env=prod" value={f.label} onChange={(e) => setF({ label: e.target.value })} />
          {filtered ? (
            <button type="button" className="btn btn-ghost filters-clear" onClick={() => setF({ q: "", status: "", label: "" })}>
              Clear filters
            </button>
          ) : null}
        </form>
        <DataTable
          label="Servers"
          columns={columns}
          rows={list.items}
          rowKey={(s) => s.id}
          loading={list.loading}
          error={list.error}
          onRetry={list.reload}
          empty={
            filtered ? (
              <EmptyState title="No servers match these filters" />
            ) : (
              <EmptyState
                title="No servers yet"
                icon="▤"
                action={
                  canManage ? (
                    <Link to="/servers/new" className="btn btn-secondary">
                      Add your first server
                    </Link>
                  ) : null
                }
              >
                <p>Servers you add appear here with their status. {canManage ? "" : "An operator or admin can add them."}</p>
              </EmptyState>
            )
          }
          pagination={listPagination(list)}
        />
      </div>
    </>
  );
}
