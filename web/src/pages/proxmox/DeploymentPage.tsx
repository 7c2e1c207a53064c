// /proxmox/deployments/:id: one deployment. Its job's progress (bar and
// message, live over SSE) and, per user, the stand and its VMs (node, VMID,
// state, error), re-read every second while it is queued, running or
// cleaning. Operators retry a failed or partial deployment, clean it up (all
// users or one), and take the generated passwords, which the API hands out
// once.
import { useCallback, useEffect, useState } from "react";
import { Link, useLocation, useParams } from "react-router";
import { hasRole, isApiError, type Job } from "../../api/client";
import { useEvents, type GantryEvent, type JobUpdate } from "../../api/events";
import { cleanupDeployment, getDeployment, listClusters, retryDeployment, takeCredentials, type Credential, type DeploymentView, type StandView } from "../../api/pve";
import { useMe } from "../../auth/AuthContext";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { CopyField } from "../../components/CopyField";
import { Dialog } from "../../components/Dialog";
import { JobProgress, ProgressBar, useJob } from "../../components/JobProgress";
import { CountBadges, PveStatusBadge, StandCard } from "../../components/PveViews";
import { ErrorState, Loading } from "../../components/States";
import { useToast } from "../../components/Toasts";
import { formatDateTime, formatRelative } from "../../lib/format";
import { isActive, vmProgress } from "../../lib/pve";
import { plural } from "../../lib/selection";
import { useList } from "../../lib/useList";
import { useWhile } from "./DeploymentsPage";

function Progress({ d, initialJob }: { d: DeploymentView; initialJob: Job | null }) {
  const { view } = useJob(d.job_id ?? null, initialJob);
  if (view) return <JobProgress view={view} />;
  // No job (yet): the VMs' own progress.
  const v = vmProgress(d);
  return <ProgressBar value={v} status={isActive(d) ? "running" : "succeeded"} label={`Deployment ${d.id} progress`} />;
}

function CredentialsDialog({ creds, onClose }: { creds: Credential[] | null; onClose: () => void }) {
  return (
    <Dialog
      open={creds != null}
      title="Passwords of the new users"
      onClose={onClose}
      size="md"
      footer={
        <button type="button" className="btn btn-primary" onClick={onClose}>
          Done
        </button>
      }
    >
      <p className="notice notice-warning">Copy them now: Gantry has deleted them and cannot show them again.</p>
      {creds && creds.length === 0 ? <p className="muted">No passwords are waiting: they were shown before, or no user was created.</p> : null}
      <div className="pve-creds" data-testid="pve-credentials">
        {creds?.map((c) => <CopyField key={c.user} label={c.user} value={c.password} />)}
      </div>
    </Dialog>
  );
}

export function DeploymentPage() {
  const { id: rawId } = useParams();
  const id = Number(rawId);
  const location = useLocation();
  const initialJob = (location.state as { job?: Job } | null)?.job ?? null;
  const me = useMe();
  const canManage = hasRole(me.role, "operator");
  const toast = useToast();
  const clusters = useList(listClusters);
  const [d, setD] = useState<DeploymentView | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [cleaning, setCleaning] = useState<{ user: string | null } | null>(null);
  const [creds, setCreds] = useState<Credential[] | null>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async () => {
    try {
      setD(await getDeployment(id));
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [id]);
  useEffect(() => {
    setD(null);
    void load();
  }, [load]);
  const moving = d != null && isActive(d);
  useWhile(moving, load, 1000);
  // Its job's progress moves the VMs: re-read on each update too.
  useEvents("job.", (e: GantryEvent) => {
    if (d?.job_id != null && (e.payload as JobUpdate).job_id === d.job_id) void load();
  });

  if (error && !d) return <ErrorState error={error} onRetry={() => void load()} title={isApiError(error) && error.status === 404 ? "No such deployment" : undefined} />;
  if (!d) return <Loading />;

  const cluster = clusters.items?.find((c) => c.id === d.cluster_id);
  const pending = d.stands.filter((s) => s.password_pending).length;
  const canRetry = d.status === "failed" || d.status === "partial";
  const canClean = !moving && d.status !== "cleaned";

  async function act(what: () => Promise<unknown>) {
    setBusy(true);
    try {
      await what();
    } catch (e) {
      toast.error(isApiError(e) ? e.detail : String(e));
    } finally {
      setBusy(false);
      void load();
    }
  }

  const standActions = (s: StandView) =>
    canManage && canClean && s.status !== "removed" ? (
      <button type="button" className="btn btn-danger-outline btn-sm" onClick={() => setCleaning({ user: s.user })} aria-label={`Clean up ${s.user}`}>
        Clean up
      </button>
    ) : null;

  return (
    <>
      <nav className="breadcrumb" aria-label="Breadcrumb">
        <Link to="/proxmox/deployments">Deployments</Link> / #{d.id}
      </nav>
      <section className="card" aria-labelledby="pve-deployment">
        <div className="card-head">
          <div>
            <h2 className="card-title" id="pve-deployment">
              Deployment #{d.id}: {d.blueprint}
            </h2>
            <p className="muted small">
              On {cluster?.name ?? `cluster #${d.cluster_id}`}, {plural(d.stands.length, "user")}, started{" "}
              <span title={formatDateTime(d.created_at)}>{formatRelative(d.created_at)}</span> by {d.created_by}.
            </p>
          </div>
          {canManage ? (
            <div className="card-actions">
              {pending > 0 ? (
                <button type="button" className="btn btn-primary" disabled={busy} onClick={() => void act(async () => setCreds(await takeCredentials(d.id)))}>
                  Show passwords once
                </button>
              ) : null}
              {canRetry ? (
                <button
                  type="button"
                  className="btn btn-secondary"
                  disabled={busy}
                  onClick={() =>
                    void act(async () => {
                      await retryDeployment(d.id);
                      toast.success(`Deployment #${d.id} resumed`);
                    })
                  }
                >
                  Retry
                </button>
              ) : null}
              {canClean ? (
                <button type="button" className="btn btn-danger-outline" disabled={busy} onClick={() => setCleaning({ user: null })}>
                  Clean up
                </button>
              ) : null}
            </div>
          ) : null}
        </div>
        <div className="status-line">
          <span className="muted">Status</span>
          <span data-testid="pve-deployment-status">
            <PveStatusBadge status={d.status} />
          </span>
          <CountBadges counts={d.counts} />
        </div>
        <Progress d={d} initialJob={initialJob} />
        {d.warnings.length ? (
          <div className="notice notice-warning" role="region" aria-label="Warnings">
            <ul className="pve-notes">
              {d.warnings.map((w, i) => (
                <li key={i}>{w}</li>
              ))}
            </ul>
          </div>
        ) : null}
      </section>
      <section className="card" aria-labelledby="pve-stands">
        <h2 className="card-title" id="pve-stands">
          Stands
        </h2>
        {d.stands.map((s) => (
          <StandCard key={s.id} stand={s} actions={standActions(s)} />
        ))}
      </section>
      <CredentialsDialog creds={creds} onClose={() => setCreds(null)} />
      {cleaning ? (
        <ConfirmDialog
          open
          title={cleaning.user ? `Clean up the stand of ${cleaning.user}?` : `Clean up deployment #${d.id}?`}
          confirmLabel={cleaning.user ? "Clean up stand" : "Clean up all stands"}
          option={{ name: "keep_users", label: "Keep the Proxmox users Gantry created", hint: "By default they are deleted with their stands." }}
          onClose={() => setCleaning(null)}
          onConfirm={async (keepUsers) => {
            await cleanupDeployment(d.id, { users: cleaning.user ? [cleaning.user] : null, remove_users: !keepUsers });
            toast.success(cleaning.user ? `Cleaning up ${cleaning.user}` : `Cleaning up deployment #${d.id}`);
            void load();
          }}
        >
          <p>
            {cleaning.user ? (
              <>
                The VMs of <strong>{cleaning.user}</strong> are stopped and destroyed, and their pool removed.
              </>
            ) : (
              <>
                Every VM of this deployment ({plural(d.stands.reduce((n, s) => n + s.vms.length, 0), "VM")} for {plural(d.stands.length, "user")}) is stopped
                and destroyed, and the pools removed.
              </>
            )}{" "}
            This cannot be undone.
          </p>
        </ConfirmDialog>
      ) : null}
    </>
  );
}
