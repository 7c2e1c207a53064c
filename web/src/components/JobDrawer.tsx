// The job drawer: opened from the dashboard and the jobs list; follows the job
// live over SSE (see JobProgress.useJob).
import { useState } from "react";
import { api, call, hasRole, type Job } from "../api/client";
import { TERMINAL, useStreamState } from "../api/events";
import { useAuth } from "../auth/AuthContext";
import { formatDateTime } from "../lib/format";
import { ConfirmDialog } from "./ConfirmDialog";
import { Dialog } from "./Dialog";
import { JobLog, JobProgress, useJob } from "./JobProgress";
import { ErrorState, Loading } from "./States";
import { useToast } from "./Toasts";

export function JobDrawer({ jobId, initial, onClose }: { jobId: number | null; initial?: Job | null; onClose: () => void }) {
  const { view, error, reload } = useJob(jobId, initial);
  const { me } = useAuth();
  const stream = useStreamState();
  const toast = useToast();
  const [confirmCancel, setConfirmCancel] = useState(false);
  const canCancel = view != null && !TERMINAL.has(view.status) && hasRole(me?.role, "operator");

  return (
    <>
      <Dialog
        open={jobId != null}
        title={view ? `Job #${view.id} · ${view.kind}` : `Job #${jobId ?? ""}`}
        onClose={onClose}
        variant="drawer"
        size="lg"
        footer={
          <>
            <span className={`live-indicator live-${stream}`}>
              <span className="live-dot" aria-hidden="true" />
              {stream === "open" ? "Live" : stream === "connecting" ? "Connecting…" : "Not live"}
            </span>
            {canCancel ? (
              <button type="button" className="btn btn-danger" onClick={() => setConfirmCancel(true)}>
                Cancel job
              </button>
            ) : null}
            <button type="button" className="btn btn-secondary" onClick={onClose}>
              Close
            </button>
          </>
        }
      >
        {view ? (
          <div className="job-detail">
            <JobProgress view={view} />
            <dl className="facts">
              <div>
                <dt>Created</dt>
                <dd>{formatDateTime(view.job?.created_at)}</dd>
              </div>
              <div>
                <dt>Started</dt>
                <dd>{formatDateTime(view.job?.started_at)}</dd>
              </div>
              <div>
                <dt>Finished</dt>
                <dd>{formatDateTime(view.job?.finished_at)}</dd>
              </div>
              <div>
                <dt>Attempts</dt>
                <dd>{view.job ? `${view.job.attempts} of ${view.job.max_attempts}` : "—"}</dd>
              </div>
            </dl>
            <h3 className="section-title">Log</h3>
            {view.log.length === 0 ? (
              <p className="muted">No log lines yet.</p>
            ) : (
              <JobLog lines={view.log} label="Job log" />
            )}
            {view.job?.error ? (
              <>
                <h3 className="section-title">Error</h3>
                <pre className="code-block code-error">{view.job.error}</pre>
              </>
            ) : null}
            {view.job?.result != null && TERMINAL.has(view.status) ? (
              <>
                <h3 className="section-title">Result</h3>
                <pre className="code-block">{JSON.stringify(view.job.result, null, 2)}</pre>
              </>
            ) : null}
          </div>
        ) : error ? (
          <ErrorState error={error} onRetry={() => void reload()} title="Could not load the job" />
        ) : (
          <Loading label="Loading job…" />
        )}
      </Dialog>
      <ConfirmDialog
        open={confirmCancel}
        title={`Cancel job #${view?.id ?? ""}?`}
        confirmLabel="Cancel job"
        onClose={() => setConfirmCancel(false)}
        onConfirm={async () => {
          if (!view) return;
          await call(api.POST("/api/v1/jobs/{id}/cancel", { params: { path: { id: view.id } } }));
          toast.success(`Job #${view.id} cancelled`);
          void reload();
        }}
      >
        <p>
          The <strong>{view?.kind}</strong> job #{view?.id} stops at its next step. Work it already did is not undone.
        </p>
      </ConfirmDialog>
    </>
  );
}
