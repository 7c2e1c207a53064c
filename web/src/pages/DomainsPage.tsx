// Domains overview (/domains): the domain groups, and a search over the
// domains of every group with bulk actions.
import { useEffect, useState } from "react";
import { Link, useNavigate } from "react-router";
import { hasRole } from "../api/client";
import { allServers, listGroups } from "../api/domains";
import type { DomainGroup } from "../api/domainTypes";
import { useEvents } from "../api/events";
import { useMe } from "../auth/AuthContext";
import { Badge } from "../components/Badge";
import { DataTable, listPagination, type Column } from "../components/DataTable";
import { DomainList } from "../components/DomainList";
import { NewGroupDialog } from "../components/GroupDialogs";
import { PageHeader } from "../components/Layout";
import { EmptyState } from "../components/States";
import { useToast } from "../components/Toasts";
import { useCursorList, type CursorQuery } from "../lib/useCursorList";

type GroupFilters = Record<string, never>;

function fetchGroups({ cursor, limit }: CursorQuery<GroupFilters>) {
  return listGroups({}, cursor, limit);
}

export function DomainsPage() {
  const me = useMe();
  const toast = useToast();
  const navigate = useNavigate();
  const canManage = hasRole(me.role, "operator");
  const groups = useCursorList<DomainGroup, GroupFilters>(fetchGroups, {}, 25);
  const [servers, setServers] = useState<{ id: number; name: string }[]>([]);
  const [creating, setCreating] = useState(false);

  useEffect(() => {
    allServers().then(setServers, () => setServers([]));
  }, []);
  useEvents("domain_group.", () => groups.reload());
  useEvents("domain.", () => groups.reload()); // domain counts

  const columns: Column<DomainGroup>[] = [
    {
      key: "name",
      header: "Group",
      render: (g) => (
        <div className="cell-server">
          <Link to={`/domains/groups/${g.id}`} className="strong table-link">
            {g.name}
          </Link>
          {g.description ? <div className="muted small truncate server-desc">{g.description}</div> : null}
        </div>
      ),
    },
    { key: "server", header: "Server", render: (g) => (g.server ? <Link to={`/servers/${g.server.id}`}>{g.server.name}</Link> : <span className="muted">none</span>) },
    { key: "domain_count", header: "Domains", render: (g) => g.domain_count },
    { key: "manual_approval", header: "Approval", render: (g) => (g.manual_approval ? <Badge tone="warning">manual</Badge> : <Badge tone="neutral">automatic</Badge>) },
  ];

  return (
    <>
      <PageHeader
        title="Domains"
        description="Domain groups, the server that serves each group, and the domains' reverse-proxy targets."
        actions={
          canManage ? (
            <button type="button" className="btn btn-primary" onClick={() => setCreating(true)}>
              New group
            </button>
          ) : null
        }
      />
      <section className="card" aria-labelledby="dp-groups">
        <h2 className="card-title" id="dp-groups">
          Groups
        </h2>
        <DataTable
          label="Domain groups"
          columns={columns}
          rows={groups.items}
          rowKey={(g) => g.id}
          loading={groups.loading}
          error={groups.error}
          onRetry={groups.reload}
          empty={
            <EmptyState
              title="No domain groups yet"
              icon="◎"
              action={
                canManage ? (
                  <button type="button" className="btn btn-secondary" onClick={() => setCreating(true)}>
                    Create your first group
                  </button>
                ) : null
              }
            >
              <p>A group holds domains served by one server. {canManage ? "" : "An operator or admin can create them."}</p>
            </EmptyState>
          }
          pagination={listPagination(groups)}
        />
      </section>
      <section className="card" aria-labelledby="dp-domains">
        <h2 className="card-title" id="dp-domains">
          All domains
        </h2>
        <DomainList servers={servers} onChanged={groups.reload} />
      </section>
      <NewGroupDialog
        open={creating}
        servers={servers}
        onClose={() => setCreating(false)}
        onCreated={(g) => {
          setCreating(false);
          toast.success(`Group “${g.name}” created`);
          navigate(`/domains/groups/${g.id}`);
        }}
      />
    </>
  );
}
