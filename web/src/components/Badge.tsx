import type { JobStatus, Role, ServerStatus } from "../api/client";

export function Badge({ tone = "neutral", children }: { tone?: "neutral" | "info" | "success" | "warning" | "danger" | "accent"; children: React.ReactNode }) {
  return <span className={`badge badge-${tone}`}>{children}</span>;
}

const ROLE_TONE: Record<Role, "neutral" | "info" | "accent"> = { viewer: "neutral", operator: "info", admin: "accent" };
export function RoleBadge({ role }: { role: Role }) {
  return <Badge tone={ROLE_TONE[role]}>{role}</Badge>;
}

const STATUS_TONE: Record<JobStatus, "neutral" | "info" | "success" | "danger" | "warning"> = {
  queued: "neutral",
  running: "info",
  succeeded: "success",
  failed: "danger",
  cancelled: "warning",
};
export function JobStatusBadge({ status }: { status: JobStatus }) {
  return (
    <span className={`badge badge-${STATUS_TONE[status]}`} data-status={status}>
      {status === "running" ? <span className="pulse" aria-hidden="true" /> : null}
      {status}
    </span>
  );
}

const SERVER_TONE: Record<ServerStatus, "neutral" | "success" | "danger" | "warning"> = {
  unknown: "neutral",
  ok: "success",
  unreachable: "danger",
  auth_failed: "danger",
  host_key_changed: "warning",
};
export const SERVER_STATUS_LABELS: Record<ServerStatus, string> = {
  unknown: "unknown",
  ok: "ok",
  unreachable: "unreachable",
  auth_failed: "auth failed",
  host_key_changed: "host key changed",
};
/** A server's availability: text and colour (never colour alone). */
export function ServerStatusBadge({ status }: { status: ServerStatus }) {
  return (
    <span className={`badge badge-${SERVER_TONE[status]}`} data-status={status}>
      {SERVER_STATUS_LABELS[status]}
    </span>
  );
}
