// /proxmox/deployments: every deployment, newest first, with its state and VM
// counts (re-read while any is moving), and per cluster the orphans: VMs
// tagged by Gantry that belong to no live stand, which operators can remove.
import { useCallback, useEffect, useState } from "react";
import { Link, useNavigate } from "react-router";
import { hasRole } from "../../api/client";
import { useEvents, type GantryEvent, type JobUpdate } from "../../api/events";
import { listClusters, listDeployments, listOrphans, removeOrphans, type DeploymentView, type Orphan, type PveCluster } from "../../api/pve";
import { useMe } from "../../auth/AuthContext";
import { Badge } from "../../components/Badge";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { DataTable, type Column } from "../../components/DataTable";
import { CountBadges, PveStatusBadge } from "../../components/PveViews";
import { EmptyState } from "../../components/States";
import { useToast } from "../../components/Toasts";
import { formatDateTime, formatRelative } from "../../lib/format";
import { isActive } from "../../lib/pve";
import { plural } from "../../lib/selection";
import { useList } from "../../lib/useList";
import { ClusterPicker, useChosenCluster } from "./TemplatesPage";

/** Re-reads `reload` every `ms` while `on` (a deployment is moving). */
export function useWhile(on: boolean, reload: () => unknown, ms = 1000) {
  useEffect(() => {
    if (!on) return;
    const t = setInterval(() => void reload(), ms);
    return () => clearInterval(t);
  }, [on, reload, ms]);
}

function Orphans({ cluster, canManage }: { cluster: PveCluster; canManage: boolean }) {
  const toast = useToast();
  const fetch = useCallback(() => listOrphans(cluster.id), [cluster.id]);
  const orphans = useList(fetch);
  const [selected, setSelected] = useState<Set<number>>(new Set());
  const [confirming, setConfirming] = useState(false);
  const listed = orphans.items ?? [];
  const chosen = listed.filter((o) => selected.has(o.vmid));
  const toggle = (vmid: number) =>
    setSelected((s) => {
      const n = new Set(s);
      if (n.has(vmid)) n.delete(vmid);
      else n.add(vmid);
      return n;
    });

  const columns: Column<Orphan>[] = [
    ...(canManage
      ? [
          {
            key: "select",
            header: <span className="sr-only">Select</span>,
            className: "col-select",
            render: (o: Orphan) => <input type="checkbox" checked={selected.has(o.vmid)} onChange={() => toggle(o.vmid)} aria-label={`Select ${o.vmid} ${o.name}`} />,
          } satisfies Column<Orphan>,
        ]
      : []),
    { key: "vmid", header: "VMID", render: (o) => <span className="mono">{o.vmid}</span> },
    { key: "name", header: "Name", render: (o) => <span className="strong">{o.name}</span> },
    { key: "node", header: "Node", render: (o) => o.node },
    { key: "lock", header: "Lock", render: (o) => (o.lock ? <Badge tone="warning">{o.lock}</Badge> : <span className="muted">—</span>) },
    { key: "reason", header: "Why", className: "col-wide", render: (o) => <span className="small">{o.reason}</span> },
  ];
  return (
    <>
      {canManage && chosen.length > 0 ? (
        <div className="bulk-bar">
          <span className="bulk-count">{plural(chosen.length, "orphan")} selected</span>
          <button type="button" className="btn btn-danger btn-sm" onClick={() => setConfirming(true)}>
            Remove selected
          </button>
        </div>
      ) : null}
      <DataTable
        label={`Orphans on ${cluster.name}`}
        columns={columns}
        rows={orphans.items}
        rowKey={(o) => o.vmid}
        loading={orphans.loading}
        error={orphans.error}
        onRetry={() => void orphans.reload()}
        empty={
          <EmptyState title="No orphans" icon="✓">
            <p>Every VM Gantry tagged on {cluster.name} belongs to a live stand.</p>
          </EmptyState>
        }
      />
      <ConfirmDialog
        open={confirming}
        title={`Remove ${plural(chosen.length, "orphan VM")} from ${cluster.name}?`}
        confirmLabel="Stop and destroy"
        onClose={() => setConfirming(false)}
        onConfirm={async () => {
          const results = await removeOrphans(cluster.id, chosen.map((o) => o.vmid));
          const failed = results.filter((r) => !r.removed);
          if (failed.length) toast.error(`Not removed: ${failed.map((r) => `${r.vmid} (${r.error ?? "unknown"})`).join(", ")}`);
          const removed = results.length - failed.length;
          if (removed) toast.success(`${plural(removed, "orphan VM")} removed`);
          setSelected(new Set());
          void orphans.reload();
        }}
      >
        <p>
          These VMs are stopped and destroyed on {cluster.name}: {chosen.map((o) => `${o.vmid} ${o.name}`).join(", ")}. This cannot be
          undone.
        </p>
      </ConfirmDialog>
    </>
  );
}

export function DeploymentsPage() {
  const me = useMe();
  const canManage = hasRole(me.role, "operator");
  const navigate = useNavigate();
  const deployments = useList(listDeployments);
  const clusters = useList(listClusters);
  const [chosen, choose] = useChosenCluster(clusters.items);
  const clusterName = (id: number) => clusters.items?.find((c) => c.id === id)?.name ?? `#${id}`;
  const { reload } = deployments;
  const moving = deployments.items?.some(isActive) ?? false;
  useWhile(moving, reload, 1500);
  useEvents("job.", (e: GantryEvent) => {
    const p = e.payload as JobUpdate;
    if (p.kind?.startsWith("pve.") && (p.status === "succeeded" || p.status === "failed")) void reload();
  });

  const columns: Column<DeploymentView>[] = [
    {
      key: "id",
      header: "Deployment",
      render: (d) => (
        <div className="cell-server">
          <Link className="table-link strong" to={`/proxmox/deployments/${d.id}`}>
            #{d.id} {d.blueprint}
          </Link>
          <span className="muted small">on {clusterName(d.cluster_id)}</span>
        </div>
      ),
    },
    { key: "status", header: "Status", render: (d) => <PveStatusBadge status={d.status} /> },
    { key: "users", header: "Users", render: (d) => plural(d.stands.length, "user") },
    { key: "counts", header: "VMs", className: "col-wide", render: (d) => <CountBadges counts={d.counts} /> },
    {
      key: "created",
      header: "Started",
      render: (d) => (
        <div className="cell-status small">
          <span title={formatDateTime(d.created_at)}>{formatRelative(d.created_at)}</span>
          <span className="muted">by {d.created_by}</span>
        </div>
      ),
    },
  ];

  return (
    <>
      <section className="card" aria-labelledby="pve-deployments">
        <div className="card-head">
          <div>
            <h2 className="card-title" id="pve-deployments">
              Deployments
            </h2>
            <p className="muted small">Newest first. Open one for its users and VMs, retries, cleanup and the one-time passwords.</p>
          </div>
          {canManage ? (
            <div className="card-actions">
              <Link className="btn btn-primary" to="/proxmox/deploy">
                New deployment
              </Link>
            </div>
          ) : null}
        </div>
        <DataTable
          label="Deployments"
          columns={columns}
          rows={deployments.items}
          rowKey={(d) => d.id}
          loading={deployments.loading && !deployments.items}
          error={deployments.error}
          onRetry={() => void deployments.reload()}
          onRowClick={(d) => navigate(`/proxmox/deployments/${d.id}`)}
          rowLabel={(d) => `Deployment #${d.id} ${d.blueprint}`}
          empty={
            <EmptyState title="No deployments yet" icon="▦">
              <p>Plan and deploy a blueprint for a list of users in the Deploy tab.</p>
            </EmptyState>
          }
        />
      </section>
      {clusters.items && clusters.items.length > 0 ? (
        <section className="card" aria-labelledby="pve-orphans">
          <div className="card-head">
            <div>
              <h2 className="card-title" id="pve-orphans">
                Orphans
              </h2>
              <p className="muted small">VMs tagged by Gantry that belong to no live stand, and clones left locked (e.g. after a crash).</p>
            </div>
            <ClusterPicker clusters={clusters.items} chosen={chosen} onChoose={choose} />
          </div>
          {chosen ? <Orphans key={chosen.id} cluster={chosen} canManage={canManage} /> : null}
        </section>
      ) : null}
    </>
  );
}
