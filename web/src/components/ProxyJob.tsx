// Inline progress of a proxy job (install, apply, rollback, uninstall): the
// bar, status and the job's messages as they arrive over SSE (useJob merges
// the stream with GET /jobs/{id}); "Job details" opens the JobDrawer.
// `onFinished` is called once when the job has ended.
import { useState } from "react";
import type { Job } from "../api/client";
import { JobDrawer } from "./JobDrawer";
import { JobLog, JobProgress, useFollowJob } from "./JobProgress";
import { ErrorState } from "./States";

export function ProxyJob({
  jobId,
  initial,
  title,
  onFinished,
}: {
  jobId: number;
  initial?: Job | null;
  /** What runs, e.g. "Installing the reverse proxy". */
  title: string;
  onFinished?: (job: Job | null) => void;
}) {
  const { view, error, reload, done } = useFollowJob(jobId, initial, onFinished);
  const [open, setOpen] = useState(false);

  if (!view) return error ? <ErrorState error={error} onRetry={() => void reload()} title="Could not load the job" /> : null;
  const lines = view.log.slice(-6);
  return (
    <div className="proxy-job" data-job-id={jobId} data-testid="proxy-job" aria-busy={!done}>
      <div className="proxy-job-head">
        <span className="strong">{title}</span>
        <span className="muted small">
          Job #{jobId} · <span className="mono">{view.kind}</span>
        </span>
        <button type="button" className="btn btn-ghost btn-sm" onClick={() => setOpen(true)}>
          Job details
        </button>
      </div>
      <JobProgress view={view} compact />
      {lines.length > 0 ? <JobLog lines={lines} label={`${title}: log`} compact /> : null}
      {done && view.job?.error ? <pre className="code-block code-error">{view.job.error}</pre> : null}
      <p className="sr-only" aria-live="polite">
        {done ? `${title}: ${view.status}.` : ""}
      </p>
      <JobDrawer jobId={open ? jobId : null} initial={view.job} onClose={() => setOpen(false)} />
    </div>
  );
}
