// Live job progress. `useJob` merges the job read from GET /api/v1/jobs/{id}
// with the `job.updated` events of the shared SSE stream, so the bar, status
// and log move without polling or reloading.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, call, type Job, type JobStatus, type Schemas } from "../api/client";
import { TERMINAL, useLiveJob, type LiveJob } from "../api/events";
import { JobStatusBadge } from "./Badge";

export interface JobView {
  id: number;
  kind: string;
  status: JobStatus;
  progress: number;
  message: string | null;
  log: Schemas["LogLine"][];
  job: Job | null;
}

function rank(status: JobStatus): number {
  return TERMINAL.has(status) ? 2 : status === "running" ? 1 : 0;
}

/** Combines a fetched job and the live stream state; the more advanced wins. */
export function mergeJob(id: number, fetched: Job | null, live: LiveJob | undefined): JobView | null {
  if (!fetched && !live) return null;
  const useLive =
    live != null &&
    (fetched == null ||
      rank(live.status) > rank(fetched.status) ||
      (rank(live.status) === rank(fetched.status) && live.progress >= fetched.progress && !TERMINAL.has(fetched.status)));
  const log = [...(fetched?.log ?? [])];
  if (live) {
    const known = new Set(log.map((l) => l.message));
    for (const m of live.messages) if (!known.has(m.message)) log.push({ at: m.at, level: "info", message: m.message });
  }
  return {
    id,
    kind: fetched?.kind ?? live!.kind,
    status: useLive ? live!.status : fetched!.status,
    progress: useLive ? live!.progress : fetched!.progress,
    message: (useLive ? live!.message : fetched!.message) ?? null,
    log,
    job: fetched,
  };
}

/** A job, kept up to date from the event stream; re-read once when it ends (for its result). */
export function useJob(id: number | null, initial?: Job | null) {
  const [fetched, setFetched] = useState<Job | null>(initial && initial.id === id ? initial : null);
  const [error, setError] = useState<unknown>(null);
  const live = useLiveJob(id);

  const load = useCallback(async () => {
    if (id == null) return;
    try {
      const job = await call(api.GET("/api/v1/jobs/{id}", { params: { path: { id } } }));
      setFetched(job);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [id]);

  useEffect(() => {
    setFetched(initial && initial.id === id ? initial : null);
    void load();
  }, [id, load]);

  // When the stream says the job ended, read it once more for its result and full log.
  const liveEnded = live != null && TERMINAL.has(live.status);
  useEffect(() => {
    if (liveEnded && fetched && !TERMINAL.has(fetched.status)) void load();
  }, [liveEnded, fetched, load]);

  return { view: id == null ? null : mergeJob(id, fetched, live), error, reload: load };
}

/**
 * `useJob` for a job shown inline until it ends: `done` once the fetched job
 * (with its result and full log) is terminal, not merely the stream's state,
 * and `onFinished` is called once per job then.
 */
export function useFollowJob(id: number, initial: Job | null | undefined, onFinished?: (job: Job | null) => void) {
  const { view, error, reload } = useJob(id, initial);
  const done = view?.job != null && TERMINAL.has(view.job.status);
  const reported = useRef<number | null>(null);
  useEffect(() => {
    if (done && reported.current !== id) {
      reported.current = id;
      onFinished?.(view?.job ?? null);
    }
  }, [done, id, onFinished, view?.job]);
  return { view, error, reload, done };
}

export function ProgressBar({ value, status, label }: { value: number; status: JobStatus; label: string }) {
  const v = Math.max(0, Math.min(100, Math.round(value)));
  return (
    <div
      className={`progress progress-${status}`}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={v}
      aria-valuetext={`${v}% (${status})`}
    >
      <div className="progress-fill" style={{ width: `${v}%` }} />
    </div>
  );
}

export function JobProgress({ view, compact = false }: { view: JobView; compact?: boolean }) {
  return (
    <div className={`job-progress${compact ? " job-progress-compact" : ""}`} data-job-id={view.id}>
      <div className="job-progress-head">
        <JobStatusBadge status={view.status} />
        <span className="job-progress-pct" data-testid="job-progress-pct">
          {view.progress}%
        </span>
      </div>
      <ProgressBar value={view.progress} status={view.status} label={`Job ${view.id} progress`} />
      {view.message ? <p className="job-progress-message">{view.message}</p> : null}
    </div>
  );
}

/**
 * A job's log lines. The drawer's full log is a live region; the compact tail
 * shown inline is not (the inline view announces only the end).
 */
export function JobLog({ lines, label, compact = false }: { lines: JobView["log"]; label: string; compact?: boolean }) {
  return (
    <ol className={`job-log${compact ? " job-log-compact" : ""}`} role={compact ? undefined : "log"} aria-label={label} aria-live={compact ? undefined : "polite"}>
      {lines.map((l, i) => (
        <li key={i} className={`log-line log-${l.level}`}>
          <time dateTime={l.at}>{new Date(l.at).toLocaleTimeString()}</time>
          <span className="log-level">{l.level}</span>
          <span className="log-message">{l.message}</span>
        </li>
      ))}
    </ol>
  );
}
