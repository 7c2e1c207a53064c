// /proxmox/templates?cluster=ID: the templates (and VMs usable as sources)
// of one cluster, with their node, storages, shared or local, and locks.
import { useCallback } from "react";
import { useSearchParams } from "react-router";
import { listClusters, listTemplates, type PveCluster, type TemplateInfo } from "../../api/pve";
import { Badge } from "../../components/Badge";
import { DataTable, type Column } from "../../components/DataTable";
import { SelectField } from "../../components/Form";
import { EmptyState, ErrorState, Loading } from "../../components/States";
import { useList } from "../../lib/useList";

/** The cluster chosen in `?cluster=`, else the first one. */
export function useChosenCluster(clusters: PveCluster[] | undefined): [PveCluster | null, (id: number) => void] {
  const [params, setParams] = useSearchParams();
  const wanted = Number(params.get("cluster"));
  const chosen = clusters?.find((c) => c.id === wanted) ?? clusters?.[0] ?? null;
  const choose = (id: number) =>
    setParams(
      (p) => {
        const n = new URLSearchParams(p);
        n.set("cluster", String(id));
        return n;
      },
      { replace: true },
    );
  return [chosen, choose];
}

export function ClusterPicker({ clusters, chosen, onChoose, label = "Cluster" }: { clusters: PveCluster[]; chosen: PveCluster | null; onChoose: (id: number) => void; label?: string }) {
  return (
    <SelectField
      name="cluster"
      label={label}
      fieldClassName="pve-cluster-picker"
      value={chosen ? String(chosen.id) : ""}
      onChange={(e) => onChoose(Number(e.target.value))}
      options={clusters.map((c) => ({ value: String(c.id), label: c.name }))}
    />
  );
}

function TemplateTable({ cluster }: { cluster: PveCluster }) {
  const fetch = useCallback(() => listTemplates(cluster.id), [cluster.id]);
  const templates = useList(fetch);
  const columns: Column<TemplateInfo>[] = [
    { key: "vmid", header: "VMID", render: (t) => <span className="mono">{t.vmid}</span> },
    {
      key: "name",
      header: "Name",
      render: (t) => (
        <div className="cell-server">
          <span className="strong">{t.name}</span>
          {t.template ? null : <span className="muted small">plain VM: full clones only</span>}
        </div>
      ),
    },
    { key: "node", header: "Node", render: (t) => t.node },
    {
      key: "storages",
      header: "Storage",
      render: (t) => (
        <ul className="chip-list chip-list-tight" aria-label="Storages">
          {t.storages.map((s) => (
            <li key={s} className="chip mono">
              {s}
            </li>
          ))}
        </ul>
      ),
    },
    { key: "shared", header: "Shared", render: (t) => (t.shared ? <Badge tone="success">shared</Badge> : <Badge tone="neutral">local</Badge>) },
    { key: "template", header: "Template", render: (t) => (t.template ? <Badge tone="info">template</Badge> : <Badge tone="warning">VM</Badge>) },
    { key: "lock", header: "Lock", render: (t) => (t.lock ? <Badge tone="danger">locked ({t.lock})</Badge> : <span className="muted">—</span>) },
    { key: "size", header: "Size", render: (t) => `${t.cores} ${t.cores === 1 ? "core" : "cores"}, ${t.memory_mib} MiB` },
  ];
  return (
    <DataTable
      label={`Templates of ${cluster.name}`}
      columns={columns}
      rows={templates.items}
      rowKey={(t) => `${t.node}/${t.vmid}`}
      loading={templates.loading}
      error={templates.error}
      onRetry={() => void templates.reload()}
      empty={
        <EmptyState title="No templates on this cluster" icon="▦">
          <p>Convert a VM to a template in Proxmox (or keep one per node) and it shows up here.</p>
        </EmptyState>
      }
    />
  );
}

export function TemplatesPage() {
  const clusters = useList(listClusters);
  const [chosen, choose] = useChosenCluster(clusters.items);
  return (
    <section className="card" aria-labelledby="pve-templates">
      <div className="card-head">
        <div>
          <h2 className="card-title" id="pve-templates">
            Templates
          </h2>
          <p className="muted small">Blueprints name a template; linked clones need a real template, and a template on local storage can only be cloned on its own node.</p>
        </div>
        {clusters.items && clusters.items.length > 0 ? <ClusterPicker clusters={clusters.items} chosen={chosen} onChoose={choose} /> : null}
      </div>
      {clusters.error ? (
        <ErrorState error={clusters.error} onRetry={() => void clusters.reload()} />
      ) : !clusters.items ? (
        <Loading />
      ) : chosen ? (
        <TemplateTable key={chosen.id} cluster={chosen} />
      ) : (
        <EmptyState title="No clusters yet" icon="▦">
          <p>Add a cluster first (Clusters tab).</p>
        </EmptyState>
      )}
    </section>
  );
}
