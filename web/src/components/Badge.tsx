import type { JobStatus, Role } from "../api/client";

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
