// The live checklist of a server check (`servers.check` job): each step turns
// green or red as its progress message arrives over SSE (useJob merges the
// stream with GET /jobs/{id}); when the job ends, the job's result or log
// fills in the final state and the durations.
import type { Job } from "../api/client";
import { buildChecklist, formatDuration, type CheckStep, type StepState } from "../lib/serverCheck";
import { JobStatusBadge } from "./Badge";
import { ErrorState } from "./States";
import { useFollowJob } from "./JobProgress";

const STATE_TEXT: Record<StepState, string> = {
  pending: "waiting",
  running: "running",
  ok: "passed",
  failed: "failed",
  skipped: "not run",
};

const STATE_ICON: Record<StepState, string> = {
  pending: "○",
  running: "◌",
  ok: "✓",
  failed: "✕",
  skipped: "–",
};

export function CheckList({ steps }: { steps: CheckStep[] }) {
  return (
    <ol className="checklist" aria-label="Check steps">
      {steps.map((s) => (
        <li key={s.step} className={`check-step check-${s.state}`} data-step={s.step} data-state={s.state}>
          <span className="check-icon" aria-hidden="true">
            {STATE_ICON[s.state]}
          </span>
          <div className="check-body">
            <div className="check-head">
              <span className="check-label">{s.label}</span>
              <span className="check-state">{STATE_TEXT[s.state]}</span>
              {s.durationMs != null ? <span className="check-duration muted small">{formatDuration(s.durationMs)}</span> : null}
            </div>
            {s.message ? <div className="check-message small">{s.message}</div> : null}
          </div>
        </li>
      ))}
    </ol>
  );
}

/** Follows one check job; calls `onFinished` once when it ends. */
export function ServerCheckProgress({ jobId, initial, onFinished }: { jobId: number; initial?: Job | null; onFinished?: (job: Job | null) => void }) {
  const { view, error, reload, done } = useFollowJob(jobId, initial, onFinished);
  const status = view?.status ?? null;
  const steps = buildChecklist({
    messages: view?.log.map((l) => l.message) ?? [],
    status,
    result: view?.job?.result,
    error: view?.job?.error,
  });

  if (!view && error) return <ErrorState error={error} onRetry={() => void reload()} title="Could not load the check" />;
  const failedStep = steps.find((s) => s.state === "failed");
  return (
    <div className="server-check" data-job-id={jobId} aria-busy={!done}>
      <div className="server-check-head">
        {status ? <JobStatusBadge status={status} /> : null}
        <span className="muted small">Job #{jobId}</span>
      </div>
      <CheckList steps={steps} />
      <p className="sr-only" aria-live="polite">
        {done ? (failedStep ? `Check failed at “${failedStep.label}”.` : status === "succeeded" ? "Check passed." : `Check ${status}.`) : ""}
      </p>
    </div>
  );
}
