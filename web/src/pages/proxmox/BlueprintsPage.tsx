// /proxmox/blueprints: stored stand blueprints. Operators create and edit
// them in a form, import YAML (errors with line and column) and delete them;
// everyone can download one as YAML.
import { useState } from "react";
import { Link } from "react-router";
import { hasRole } from "../../api/client";
import { blueprintExportUrl, deleteBlueprint, listBlueprints, type StoredBlueprint } from "../../api/pve";
import { useMe } from "../../auth/AuthContext";
import { Badge } from "../../components/Badge";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { DataTable, type Column } from "../../components/DataTable";
import { EmptyState } from "../../components/States";
import { useToast } from "../../components/Toasts";
import { formatDateTime, formatRelative } from "../../lib/format";
import { useList } from "../../lib/useList";
import { BlueprintDialog, ImportBlueprintDialog } from "./BlueprintDialogs";

function VmList({ b }: { b: StoredBlueprint }) {
  return (
    <ul className="plain-list pve-vm-summary" aria-label={`VMs of ${b.spec.name}`}>
      {b.spec.vms.map((v) => (
        <li key={v.key} className="small">
          <span className="strong mono">{v.key}</span> <span className="muted">from</span> <span className="mono">{v.template}</span>
          {v.networks && v.networks.length ? <span className="muted"> · {v.networks.join(", ")}</span> : null}
          {v.clone === "full" ? <span className="muted"> · full clone</span> : null}
        </li>
      ))}
    </ul>
  );
}

export function BlueprintsPage() {
  const me = useMe();
  const canManage = hasRole(me.role, "operator");
  const toast = useToast();
  const blueprints = useList(listBlueprints);
  const [editing, setEditing] = useState<StoredBlueprint | null | "new">(null);
  const [importing, setImporting] = useState(false);
  const [deleting, setDeleting] = useState<StoredBlueprint | null>(null);

  const columns: Column<StoredBlueprint>[] = [
    {
      key: "name",
      header: "Blueprint",
      render: (b) => (
        <div className="cell-server">
          <span className="strong">{b.spec.name}</span>
          {b.spec.description ? <span className="muted small">{b.spec.description}</span> : null}
        </div>
      ),
    },
    { key: "vms", header: "VMs per user", className: "col-wide", render: (b) => <VmList b={b} /> },
    { key: "strategy", header: "Placement", render: (b) => <Badge tone="neutral">{b.spec.strategy ?? "balanced"}</Badge> },
    {
      key: "users",
      header: "Users",
      render: (b) => (
        <div className="cell-status small">
          <span className="mono">{b.spec.role || "PVEVMUser"}</span>
          <span className="muted">{b.spec.create_users === false ? "existing users only" : "creates missing users"}</span>
        </div>
      ),
    },
    { key: "updated", header: "Updated", render: (b) => <span title={formatDateTime(b.updated_at)}>{formatRelative(b.updated_at)}</span> },
    {
      key: "actions",
      header: <span className="sr-only">Actions</span>,
      className: "col-actions",
      render: (b) => (
        <div className="row-actions">
          {canManage ? (
            <Link className="btn btn-secondary btn-sm" to={`/proxmox/deploy?blueprint=${encodeURIComponent(b.spec.name)}`} aria-label={`Deploy ${b.spec.name}`}>
              Deploy
            </Link>
          ) : null}
          <a className="btn btn-secondary btn-sm" href={blueprintExportUrl(b.id)} download={`${b.spec.name}.yml`} aria-label={`Export ${b.spec.name} as YAML`}>
            Export YAML
          </a>
          {canManage ? (
            <>
              <button type="button" className="btn btn-secondary btn-sm" onClick={() => setEditing(b)} aria-label={`Edit ${b.spec.name}`}>
                Edit
              </button>
              <button type="button" className="btn btn-danger-outline btn-sm" onClick={() => setDeleting(b)} aria-label={`Delete ${b.spec.name}`}>
                Delete
              </button>
            </>
          ) : null}
        </div>
      ),
    },
  ];

  return (
    <>
      <section className="card" aria-labelledby="pve-blueprints">
        <div className="card-head">
          <div>
            <h2 className="card-title" id="pve-blueprints">
              Blueprints
            </h2>
            <p className="muted small">What each user gets: the VMs, their templates, sizes and networks, and where they go.</p>
          </div>
          {canManage ? (
            <div className="card-actions">
              <button type="button" className="btn btn-secondary" onClick={() => setImporting(true)}>
                Import YAML
              </button>
              <button type="button" className="btn btn-primary" onClick={() => setEditing("new")}>
                New blueprint
              </button>
            </div>
          ) : null}
        </div>
        <DataTable
          label="Blueprints"
          columns={columns}
          rows={blueprints.items}
          rowKey={(b) => b.id}
          loading={blueprints.loading}
          error={blueprints.error}
          onRetry={() => void blueprints.reload()}
          empty={
            <EmptyState title="No blueprints yet" icon="▦">
              <p>Create a blueprint, or import a deployment_config.yml.</p>
            </EmptyState>
          }
        />
      </section>
      <BlueprintDialog
        open={editing != null}
        blueprint={editing === "new" ? null : editing}
        onClose={() => setEditing(null)}
        onSaved={(b) => {
          toast.success(editing === "new" ? `Blueprint “${b.spec.name}” created` : `Blueprint “${b.spec.name}” saved`);
          setEditing(null);
          void blueprints.reload();
        }}
      />
      <ImportBlueprintDialog
        open={importing}
        onClose={() => setImporting(false)}
        onImported={(b) => {
          toast.success(`Blueprint “${b.spec.name}” imported`);
          setImporting(false);
          void blueprints.reload();
        }}
      />
      {deleting ? (
        <ConfirmDialog
          open
          title={`Delete blueprint “${deleting.spec.name}”?`}
          confirmLabel="Delete blueprint"
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await deleteBlueprint(deleting.id);
            toast.success(`Blueprint “${deleting.spec.name}” deleted`);
            void blueprints.reload();
          }}
        >
          <p>
            The blueprint <strong>{deleting.spec.name}</strong> is removed from Gantry. Deployments made from it keep their own copy and
            are not touched.
          </p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}
