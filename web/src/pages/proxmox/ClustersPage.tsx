// /proxmox/clusters: every Proxmox cluster Gantry knows (never a secret),
// with "Test connection" (version, quorum, nodes, missing privileges), edit
// and delete for operators.
import { useState } from "react";
import { Link } from "react-router";
import { hasRole, isApiError } from "../../api/client";
import { deleteCluster, listClusters, testCluster, type PveCluster, type TestReport } from "../../api/pve";
import { useMe } from "../../auth/AuthContext";
import { Badge } from "../../components/Badge";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { DataTable, type Column } from "../../components/DataTable";
import { TestReportView } from "../../components/PveViews";
import { EmptyState, Loading } from "../../components/States";
import { useToast } from "../../components/Toasts";
import { formatRelative, formatDateTime } from "../../lib/format";
import { useList } from "../../lib/useList";
import { ClusterDialog } from "./ClusterDialog";

type TestState = { cluster: PveCluster; busy: boolean; report: TestReport | null; error: string | null };

export function ClustersPage() {
  const me = useMe();
  const canManage = hasRole(me.role, "operator");
  const toast = useToast();
  const clusters = useList(listClusters);
  const [editing, setEditing] = useState<PveCluster | null | "new">(null);
  const [deleting, setDeleting] = useState<PveCluster | null>(null);
  const [test, setTest] = useState<TestState | null>(null);

  async function runTest(c: PveCluster) {
    setTest({ cluster: c, busy: true, report: null, error: null });
    try {
      const report = await testCluster(c.id);
      setTest({ cluster: c, busy: false, report, error: null });
    } catch (e) {
      setTest({ cluster: c, busy: false, report: null, error: isApiError(e) ? e.detail : String(e) });
    }
  }

  const columns: Column<PveCluster>[] = [
    {
      key: "name",
      header: "Cluster",
      render: (c) => (
        <div className="cell-server">
          <span className="strong">{c.name}</span>
          <span className="muted small" title={formatDateTime(c.updated_at)}>
            updated {formatRelative(c.updated_at)}
          </span>
        </div>
      ),
    },
    {
      key: "endpoints",
      header: "Endpoints",
      render: (c) => (
        <ul className="plain-list small mono" aria-label="Endpoints">
          {c.endpoints.map((e) => (
            <li key={e} className="break">
              {e}
            </li>
          ))}
        </ul>
      ),
    },
    {
      key: "auth",
      header: "Credentials",
      render: (c) => (
        <div className="cell-status">
          <Badge tone="neutral">{c.auth === "password" ? "user + password" : "API token"}</Badge>
          <span className="mono small break">{c.auth_id}</span>
        </div>
      ),
    },
    {
      key: "trust",
      header: "Trust",
      render: (c) =>
        c.fingerprint ? (
          <span className="mono small break pve-fingerprint" title={c.fingerprint}>
            {c.fingerprint.slice(0, 23)}…
          </span>
        ) : c.has_ca ? (
          <Badge tone="info">CA bundle</Badge>
        ) : (
          <span className="muted">—</span>
        ),
    },
    { key: "range", header: "VMIDs", render: (c) => <span className="mono small">{c.vmid_range.first}–{c.vmid_range.last}</span> },
    {
      key: "links",
      header: <span className="sr-only">Links</span>,
      render: (c) => (
        <Link className="small" to={`/proxmox/templates?cluster=${c.id}`}>
          Templates
        </Link>
      ),
    },
    ...(canManage
      ? [
          {
            key: "actions",
            header: <span className="sr-only">Actions</span>,
            className: "col-actions",
            render: (c: PveCluster) => (
              <div className="row-actions">
                <button type="button" className="btn btn-secondary btn-sm" onClick={() => void runTest(c)} aria-label={`Test connection to ${c.name}`} disabled={test?.busy}>
                  Test connection
                </button>
                <button type="button" className="btn btn-secondary btn-sm" onClick={() => setEditing(c)} aria-label={`Edit ${c.name}`}>
                  Edit
                </button>
                <button type="button" className="btn btn-danger-outline btn-sm" onClick={() => setDeleting(c)} aria-label={`Delete ${c.name}`}>
                  Delete
                </button>
              </div>
            ),
          } satisfies Column<PveCluster>,
        ]
      : []),
  ];

  return (
    <>
      <section className="card" aria-labelledby="pve-clusters">
        <div className="card-head">
          <div>
            <h2 className="card-title" id="pve-clusters">
              Clusters
            </h2>
            <p className="muted small">Gantry talks to each cluster's API with a pinned certificate and the stored token; secrets are never shown again.</p>
          </div>
          {canManage ? (
            <div className="card-actions">
              <button type="button" className="btn btn-primary" onClick={() => setEditing("new")}>
                Add cluster
              </button>
            </div>
          ) : null}
        </div>
        <DataTable
          label="Proxmox clusters"
          columns={columns}
          rows={clusters.items}
          rowKey={(c) => c.id}
          loading={clusters.loading}
          error={clusters.error}
          onRetry={() => void clusters.reload()}
          empty={
            <EmptyState
              title="No clusters yet"
              icon="▦"
              action={
                canManage ? (
                  <button type="button" className="btn btn-secondary" onClick={() => setEditing("new")}>
                    Add a cluster
                  </button>
                ) : null
              }
            >
              <p>Add a Proxmox VE cluster with an API token and its certificate fingerprint to deploy stands on it.</p>
            </EmptyState>
          }
        />
      </section>
      {test ? (
        <section className="card" aria-label={`Connection test of ${test.cluster.name}`}>
          <div className="card-head">
            <h2 className="card-title">Connection test: {test.cluster.name}</h2>
            <button type="button" className="btn btn-ghost btn-sm" onClick={() => setTest(null)}>
              Close
            </button>
          </div>
          {test.busy ? <Loading label={`Testing ${test.cluster.name}…`} /> : null}
          {test.error ? (
            <p className="form-error" role="alert">
              {test.error}
            </p>
          ) : null}
          {test.report ? <TestReportView report={test.report} /> : null}
        </section>
      ) : null}
      <ClusterDialog
        open={editing != null}
        cluster={editing === "new" ? null : editing}
        onClose={() => setEditing(null)}
        onSaved={(c) => {
          toast.success(editing === "new" ? `Cluster “${c.name}” added` : `Cluster “${c.name}” saved`);
          setEditing(null);
          void clusters.reload();
        }}
      />
      {deleting ? (
        <ConfirmDialog
          open
          title={`Delete cluster “${deleting.name}”?`}
          confirmLabel="Delete cluster"
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await deleteCluster(deleting.id);
            toast.success(`Cluster “${deleting.name}” deleted`);
            if (test?.cluster.id === deleting.id) setTest(null);
            void clusters.reload();
          }}
        >
          <p>
            Gantry forgets <strong>{deleting.name}</strong> and its stored secret. Nothing on the cluster changes. A cluster that a
            deployment still uses cannot be deleted: clean those deployments up first.
          </p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}
