// The step checklist of a `servers.check` job. While the job runs, its
// progress messages (SSE `job.updated` payload.message, and the job's log)
// are lines like "tcp: ok (port 22 open)" or "auth: FAILED (…)"; when it ends,
// the job's `result.steps` (success) or the JSON result on the last log line
// and `error` = "<step>: <message>" (failure) give the final word, with
// durations.
import type { JobStatus } from "../api/client";

export const CHECK_STEPS = ["resolve", "tcp", "handshake", "host_key", "auth", "privilege", "facts"] as const;
export type CheckStepName = (typeof CHECK_STEPS)[number];

export const STEP_LABELS: Record<CheckStepName, string> = {
  resolve: "Resolve the address",
  tcp: "Open the SSH port",
  handshake: "SSH handshake",
  host_key: "Verify the host key",
  auth: "Authenticate",
  privilege: "Gain root (root or sudo)",
  facts: "Collect facts",
};

/** pending: not reached yet · running: the step being worked on · skipped: the check ended before it. */
export type StepState = "pending" | "running" | "ok" | "failed" | "skipped";

export interface CheckStep {
  step: CheckStepName;
  label: string;
  state: StepState;
  message?: string;
  durationMs?: number;
}

export interface StepLine {
  step: CheckStepName;
  ok: boolean;
  message: string;
}

function isStep(s: string): s is CheckStepName {
  return (CHECK_STEPS as readonly string[]).includes(s);
}

/**
 * Parses one progress message. "<step>: ok (<message>)" and
 * "<step>: FAILED (<message>)" are the step results; "<step>: <text>" for a
 * known step (the facts summary) counts as passed. Anything else
 * ("connecting to host:22", the JSON result line) is not a step: null.
 */
export function parseStepLine(line: string): StepLine | null {
  const m = /^([a-z_]+): (.*)$/s.exec(line.trim());
  if (!m || !isStep(m[1])) return null;
  const step = m[1];
  const rest = m[2];
  const r = /^(ok|FAILED)(?: \((.*)\))?$/s.exec(rest);
  if (r) return { step, ok: r[1] === "ok", message: r[2] ?? "" };
  return { step, ok: true, message: rest };
}

interface ResultStep {
  step: string;
  ok: boolean;
  duration_ms?: number | null;
  message?: string | null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `steps` of a check result (`{ok, steps, facts}`), if it has that shape. */
export function resultSteps(result: unknown): ResultStep[] | null {
  if (!isObject(result) || !Array.isArray(result.steps)) return null;
  const steps = result.steps.filter(
    (s): s is ResultStep => isObject(s) && typeof s.step === "string" && typeof s.ok === "boolean",
  );
  return steps.length > 0 ? steps : null;
}

/** The JSON result a failed check writes as its last log line, if any. */
function resultFromLog(lines: readonly string[]): ResultStep[] | null {
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i].trim();
    if (!l.startsWith("{")) continue;
    try {
      const steps = resultSteps(JSON.parse(l));
      if (steps) return steps;
    } catch {
      /* not JSON */
    }
  }
  return null;
}

export interface ChecklistInput {
  /** Progress messages / log lines, in order. */
  messages: readonly string[];
  /** Job status; null before the job is known. */
  status: JobStatus | null;
  /** The job's `result` (when it succeeded). */
  result?: unknown;
  /** The job's `error` ("<step>: <message>") when it failed. */
  error?: string | null;
}

const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set<JobStatus>(["succeeded", "failed", "cancelled"]);

/** The checklist for the job as known so far: live lines first, then reconciled with the final result. */
export function buildChecklist({ messages, status, result, error }: ChecklistInput): CheckStep[] {
  const steps = new Map<CheckStepName, CheckStep>(
    CHECK_STEPS.map((s) => [s, { step: s, label: STEP_LABELS[s], state: "pending" as StepState }]),
  );

  for (const line of messages) {
    const p = parseStepLine(line);
    if (!p) continue;
    const s = steps.get(p.step)!;
    s.state = p.ok ? "ok" : "failed";
    s.message = p.message || undefined;
  }

  const final = resultSteps(result) ?? resultFromLog(messages);
  if (final) {
    for (const r of final) {
      if (!isStep(r.step)) continue;
      const s = steps.get(r.step)!;
      s.state = r.ok ? "ok" : "failed";
      if (r.message) s.message = r.message;
      if (typeof r.duration_ms === "number") s.durationMs = r.duration_ms;
    }
  }

  if (status === "failed" && error) {
    const m = /^([a-z_]+): (.*)$/s.exec(error);
    if (m && isStep(m[1])) {
      const s = steps.get(m[1])!;
      s.state = "failed";
      s.message ??= m[2];
    }
  }

  const list = CHECK_STEPS.map((s) => steps.get(s)!);
  const failed = list.some((s) => s.state === "failed");
  if (status != null && TERMINAL_STATUSES.has(status)) {
    // The check is over: whatever did not run was skipped.
    for (const s of list) if (s.state === "pending") s.state = "skipped";
  } else if (status === "running" && !failed) {
    // The first step without a result is the one being worked on.
    const next = list.find((s) => s.state === "pending");
    if (next) next.state = "running";
  }
  return list;
}

/** "12 ms", "1.4 s". */
export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
