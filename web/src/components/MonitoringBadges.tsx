import type { Severity } from "../api/monitoring";

const SEVERITY_TONE: Record<Severity, "info" | "warning" | "danger"> = { info: "info", warning: "warning", error: "danger" };

/** An event-log entry's severity: text and colour (never colour alone). */
export function SeverityBadge({ severity }: { severity: Severity }) {
  return (
    <span className={`badge badge-${SEVERITY_TONE[severity] ?? "neutral"}`} data-severity={severity}>
      {severity}
    </span>
  );
}
