// The domains table of the overview (all groups, with group and server
// filters) and of a group page (one group). Filters live in the URL; rows can
// be selected for bulk actions (operators).
import { useEffect, useState } from "react";
import { Link } from "react-router";
import { hasRole } from "../api/client";
import { listCertificates, type Certificate } from "../api/certificates";
import { allGroups, bulkDomains, listDomains, type DomainFilters } from "../api/domains";
import type { BulkAction, Domain, DomainGroup } from "../api/domainTypes";
import { useEvents } from "../api/events";
import { useMe } from "../auth/AuthContext";
import { Badge } from "./Badge";
import { DomainTlsSummary } from "./CertificateBadges";
import { ConfirmDialog } from "./ConfirmDialog";
import { DataTable, listPagination, type Column } from "./DataTable";
import { SelectField, TextField } from "./Form";
import { EmptyState } from "./States";
import { useToast } from "./Toasts";
import { plural, useSelection } from "../lib/selection";
import { domainTlsCell } from "../lib/tls";
import { useCursorList, type CursorQuery } from "../lib/useCursorList";
import { useDebounced } from "../lib/useDebounced";
import { useUrlFilters } from "../lib/useUrlFilters";

const FILTERS = ["q", "group", "server", "enabled", "sort"] as const;

function fetchDomains({ filters, cursor, limit }: CursorQuery<DomainFilters>) {
  return listDomains(filters, cursor, limit);
}

export function targetText(d: { scheme: string; target_ip: string; target_port: number }): string {
  const ip = d.target_ip.includes(":") ? `[${d.target_ip}]` : d.target_ip;
  return `${d.scheme}://${ip}:${d.target_port}`;
}

export function DomainName({ d, link }: { d: Domain; link: boolean }) {
  const name = d.name_unicode && d.name_unicode !== d.name ? d.name_unicode : d.name;
  return (
    <div className="cell-server">
      {link ? (
        <Link to={`/domains/${d.id}/edit`} className="strong table-link">
          {name}
        </Link>
      ) : (
        <span className="strong">{name}</span>
      )}
      {name !== d.name ? <div className="muted small mono">{d.name}</div> : null}
    </div>
  );
}

const BULK_TEXT: Record<BulkAction, { verb: string; title: (n: string) => string; body: string }> = {
  enable: { verb: "Enable", title: (n) => `Enable ${n}?`, body: "They are served again by their servers' reverse proxy." },
  disable: { verb: "Disable", title: (n) => `Disable ${n}?`, body: "Their configuration stays; the reverse proxy stops serving them." },
  move: { verb: "Move", title: (n) => `Move ${n} to another group?`, body: "They are then served by the new group's server." },
  delete: { verb: "Delete", title: (n) => `Delete ${n}?`, body: "They are removed from Gantry and no longer served. This cannot be undone." },
};

export interface DomainListProps {
  /** Fixed group (the group page): no group/server filters. */
  groupId?: number;
  /** Groups for the filter and the "move" action; loaded when not given. */
  groups?: DomainGroup[];
  servers?: { id: number; name: string }[];
  /** Called after a bulk action changed domains (e.g. to refresh group counts). */
  onChanged?: () => void;
  /** Change it to re-read the list (e.g. after an import). */
  refreshKey?: number;
}

export function DomainList({ groupId, groups: givenGroups, servers, onChanged, refreshKey }: DomainListProps) {
  const me = useMe();
  const toast = useToast();
  const canManage = hasRole(me.role, "operator");
  const [f, setF] = useUrlFilters(FILTERS);
  const q = useDebounced(f.q.trim());
  const [loadedGroups, setLoadedGroups] = useState<DomainGroup[] | null>(null);
  const groups = givenGroups ?? loadedGroups ?? [];
  useEffect(() => {
    if (givenGroups) return;
    allGroups().then(setLoadedGroups, () => setLoadedGroups([]));
  }, [givenGroups]);
  // Which certificate each domain serves (viewers may read them too); null: unreadable, only the mode is shown.
  const [certs, setCerts] = useState<Certificate[] | null>(null);
  const loadCerts = () => void listCertificates().then(setCerts, () => setCerts(null));
  useEffect(loadCerts, []);
  useEvents("certificate.", loadCerts);

  const filters: DomainFilters = {
    q: q || undefined,
    group_id: groupId ?? (f.group ? Number(f.group) : undefined),
    server_id: groupId == null && f.server ? Number(f.server) : undefined,
    enabled: f.enabled === "true" ? true : f.enabled === "false" ? false : undefined,
    sort: (f.sort || "name") as DomainFilters["sort"],
  };
  const list = useCursorList<Domain, DomainFilters>(fetchDomains, filters, 25);
  const sel = useSelection((list.items ?? []).map((d) => d.id));
  const [bulk, setBulk] = useState<BulkAction | null>(null);
  const [moveTo, setMoveTo] = useState("");

  useEffect(() => {
    if (refreshKey) list.reload();
  }, [refreshKey]);
  useEvents("domain.", () => {
    list.reload();
    loadCerts(); // switching to ACME creates the domain's certificate
  });
  useEvents("domain_group.", () => list.reload());

  const n = sel.ids.length;
  const columns: Column<Domain>[] = [
    ...(canManage
      ? [
          {
            key: "select",
            className: "col-select",
            header: (
              <input
                type="checkbox"
                aria-label="Select all domains on this page"
                checked={sel.state === "all"}
                ref={(el) => {
                  if (el) el.indeterminate = sel.state === "some";
                }}
                onChange={sel.toggleAll}
                disabled={!list.items?.length}
              />
            ),
            render: (d: Domain) => <input type="checkbox" aria-label={`Select ${d.name}`} checked={sel.selected.has(d.id)} onChange={() => sel.toggle(d.id)} />,
          } satisfies Column<Domain>,
        ]
      : []),
    { key: "name", header: "Domain", sortable: true, render: (d) => <DomainName d={d} link={canManage} /> },
    { key: "target", header: "Target", render: (d) => <span className="mono">{targetText(d)}</span> },
    {
      key: "aliases",
      header: "Aliases",
      render: (d) =>
        d.aliases.length ? (
          <ul className="chip-list chip-list-tight" aria-label="Aliases">
            {d.aliases.map((a) => (
              <li key={a} className="chip mono">
                {a}
              </li>
            ))}
          </ul>
        ) : (
          <span className="muted">—</span>
        ),
    },
    ...(groupId == null
      ? [
          { key: "group", header: "Group", render: (d: Domain) => <Link to={`/domains/groups/${d.group.id}`}>{d.group.name}</Link> },
          { key: "server", header: "Server", render: (d: Domain) => (d.server ? <Link to={`/servers/${d.server.id}`}>{d.server.name}</Link> : <span className="muted">none</span>) },
        ]
      : []),
    { key: "routes", header: "Routes", render: (d) => (d.routes.length ? plural(d.routes.length, "route") : <span className="muted">—</span>) },
    {
      key: "tls",
      header: "HTTPS",
      render: (d) => <DomainTlsSummary cell={domainTlsCell(d, certs)} />,
    },
    { key: "enabled", header: "State", render: (d) => (d.enabled ? <Badge tone="success">enabled</Badge> : <Badge tone="neutral">disabled</Badge>) },
  ];

  const filtered = Boolean(f.q || f.enabled || (groupId == null && (f.group || f.server)));
  const sortKey = f.sort || "name";
  const groupOptions = [{ value: "", label: "Any group" }, ...groups.map((g) => ({ value: String(g.id), label: g.name }))];
  const moveOptions = [{ value: "", label: "Choose a group…" }, ...groups.filter((g) => g.id !== groupId).map((g) => ({ value: String(g.id), label: g.server ? `${g.name} (${g.server.name})` : g.name }))];

  async function runBulk(action: BulkAction) {
    if (action === "move" && !moveTo) throw new Error("Choose the group to move them to.");
    const res = await bulkDomains({ ids: sel.ids, action, ...(action === "move" ? { group_id: Number(moveTo) } : {}) });
    const target = action === "move" ? ` to “${groups.find((g) => String(g.id) === moveTo)?.name ?? moveTo}”` : "";
    toast.success(`${plural(res.affected, "domain")} ${action === "enable" ? "enabled" : action === "disable" ? "disabled" : action === "move" ? `moved${target}` : "deleted"}`);
    sel.clear();
    list.reload();
    onChanged?.();
  }

  return (
    <>
      <form className="filters" role="search" aria-label="Filter domains" onSubmit={(e) => e.preventDefault()}>
        <TextField label="Search domains" name="q" type="search" placeholder="Name or alias" value={f.q} onChange={(e) => setF({ q: e.target.value })} />
        {groupId == null ? (
          <>
            <SelectField label="Group" name="group" value={f.group} onChange={(e) => setF({ group: e.target.value })} options={groupOptions} />
            <SelectField
              label="Server"
              name="server"
              value={f.server}
              onChange={(e) => setF({ server: e.target.value })}
              options={[{ value: "", label: "Any server" }, ...(servers ?? []).map((s) => ({ value: String(s.id), label: s.name }))]}
            />
          </>
        ) : null}
        <SelectField
          label="State"
          name="enabled"
          value={f.enabled}
          onChange={(e) => setF({ enabled: e.target.value })}
          options={[
            { value: "", label: "Enabled or disabled" },
            { value: "true", label: "Enabled" },
            { value: "false", label: "Disabled" },
          ]}
        />
        {filtered ? (
          <button type="button" className="btn btn-ghost filters-clear" onClick={() => setF({ q: "", group: "", server: "", enabled: "" })}>
            Clear filters
          </button>
        ) : null}
      </form>
      {canManage && n > 0 ? (
        <div className="bulk-bar" role="region" aria-label="Bulk actions">
          <span className="bulk-count" aria-live="polite">
            {plural(n, "domain")} selected
          </span>
          <button type="button" className="btn btn-secondary btn-sm" onClick={() => setBulk("enable")}>
            Enable
          </button>
          <button type="button" className="btn btn-secondary btn-sm" onClick={() => setBulk("disable")}>
            Disable
          </button>
          <button type="button" className="btn btn-secondary btn-sm" onClick={() => setBulk("move")}>
            Move to group…
          </button>
          <button type="button" className="btn btn-danger-outline btn-sm" onClick={() => setBulk("delete")}>
            Delete
          </button>
          <button type="button" className="btn btn-ghost btn-sm" onClick={sel.clear}>
            Clear selection
          </button>
        </div>
      ) : null}
      <DataTable
        label={groupId == null ? "Domains" : "Domains of this group"}
        columns={columns}
        rows={list.items}
        rowKey={(d) => d.id}
        loading={list.loading}
        error={list.error}
        onRetry={list.reload}
        sort={{ key: sortKey.replace(/^-/, ""), dir: sortKey.startsWith("-") ? "desc" : "asc" }}
        onSortChange={(s) => setF({ sort: s.dir === "desc" ? `-${s.key}` : s.key })}
        empty={
          filtered ? (
            <EmptyState title="No domains match these filters" />
          ) : (
            <EmptyState
              title="No domains yet"
              icon="◎"
              action={
                canManage && groupId != null ? (
                  <Link to={`/domains/new?group=${groupId}`} className="btn btn-secondary">
                    Add a domain
                  </Link>
                ) : null
              }
            >
              <p>{groupId == null ? "Domains you add to a group appear here." : "Add domains one by one or import a YAML or CSV file."}</p>
            </EmptyState>
          )
        }
        pagination={listPagination(list)}
      />
      {bulk ? (
        <ConfirmDialog
          open
          title={BULK_TEXT[bulk].title(plural(n, "domain"))}
          confirmLabel={`${BULK_TEXT[bulk].verb} ${plural(n, "domain")}`}
          danger={bulk === "delete" || bulk === "disable"}
          onClose={() => {
            setBulk(null);
            setMoveTo("");
          }}
          onConfirm={() => runBulk(bulk)}
        >
          <p>
            {BULK_TEXT[bulk].verb} the {plural(n, "selected domain")}: {summarizeNames((list.items ?? []).filter((d) => sel.selected.has(d.id)).map((d) => d.name))}.{" "}
            {BULK_TEXT[bulk].body}
          </p>
          {bulk === "move" ? <SelectField label="Move to group" name="group_id" value={moveTo} onChange={(e) => setMoveTo(e.target.value)} options={moveOptions} /> : null}
        </ConfirmDialog>
      ) : null}
    </>
  );
}

/** "a, b, c and 4 more" */
export function summarizeNames(names: string[], max = 3): string {
  if (names.length <= max) return names.join(", ");
  return `${names.slice(0, max).join(", ")} and ${names.length - max} more`;
}

