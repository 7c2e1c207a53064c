// Badges of the proxy module: text and colour, never colour alone.
import type { GenerationStatus, ProxyStatus, RolloutStatus, TargetStatus, Trigger } from "../api/proxy";

type Tone = "neutral" | "info" | "success" | "warning" | "danger" | "accent";

function ToneBadge({ tone, status, label, busy = false }: { tone: Tone; status: string; label: string; busy?: boolean }) {
  return (
    <span className={`badge badge-${tone}`} data-status={status}>
      {busy ? <span className="pulse" aria-hidden="true" /> : null}
      {label}
    </span>
  );
}

export const PROXY_STATUS_LABELS: Record<ProxyStatus, string> = {
  not_installed: "not installed",
  installing: "installing",
  in_sync: "in sync",
  pending: "changes pending",
  applying: "applying",
  degraded: "degraded",
  drifted: "drifted",
};
/** Labels after a count ("2 pending", "1 in sync"). */
export const PROXY_COUNT_LABELS: Record<ProxyStatus, string> = { ...PROXY_STATUS_LABELS, pending: "pending" };

const PROXY_TONE: Record<ProxyStatus, Tone> = {
  not_installed: "neutral",
  installing: "info",
  in_sync: "success",
  pending: "warning",
  applying: "info",
  degraded: "danger",
  drifted: "warning",
};
/** Where a server's proxy stands. */
export function ProxyStatusBadge({ status }: { status: ProxyStatus }) {
  return <ToneBadge tone={PROXY_TONE[status]} status={status} label={PROXY_STATUS_LABELS[status]} busy={status === "installing" || status === "applying"} />;
}

const GENERATION_TONE: Record<GenerationStatus, Tone> = {
  staged: "info",
  switching: "info",
  live: "success",
  superseded: "neutral",
  failed: "danger",
  interrupted: "warning",
};
export function GenerationStatusBadge({ status }: { status: GenerationStatus }) {
  return <ToneBadge tone={GENERATION_TONE[status]} status={status} label={status} busy={status === "staged" || status === "switching"} />;
}

const TRIGGER_TONE: Record<Trigger, Tone> = {
  manual: "info",
  auto: "neutral",
  install: "neutral",
  rollback: "accent",
  repair: "warning",
  rollout: "info",
};
/** Why a generation (or rollout) was made. */
export function TriggerBadge({ trigger }: { trigger: Trigger }) {
  return <ToneBadge tone={TRIGGER_TONE[trigger]} status={trigger} label={trigger} />;
}

const ROLLOUT_TONE: Record<RolloutStatus, Tone> = { running: "info", succeeded: "success", stopped: "danger" };
export function RolloutStatusBadge({ status }: { status: RolloutStatus }) {
  return <ToneBadge tone={ROLLOUT_TONE[status]} status={status} label={status} busy={status === "running"} />;
}

const TARGET_TONE: Record<TargetStatus, Tone> = {
  waiting: "neutral",
  applying: "info",
  succeeded: "success",
  unchanged: "neutral",
  failed: "danger",
  skipped: "warning",
};
export function TargetStatusBadge({ status }: { status: TargetStatus }) {
  return <ToneBadge tone={TARGET_TONE[status]} status={status} label={status} busy={status === "applying"} />;
}
