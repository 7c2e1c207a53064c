// Loading, empty and error states. Every page that loads data shows exactly
// one of: Loading, ErrorState (with Retry), EmptyState, or the data.
import type { ReactNode } from "react";
import { isApiError } from "../api/client";

export function Spinner({ label = "Loading" }: { label?: string }) {
  return <span className="spinner" role="progressbar" aria-label={label} />;
}

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <div className="state state-loading" role="status" aria-live="polite">
      <Spinner label={label} />
      <span>{label}</span>
    </div>
  );
}

export function EmptyState({
  title,
  children,
  action,
  icon = "○",
}: {
  title: string;
  children?: ReactNode;
  action?: ReactNode;
  icon?: ReactNode;
}) {
  return (
    <div className="state state-empty">
      <div className="state-icon" aria-hidden="true">
        {icon}
      </div>
      <h3 className="state-title">{title}</h3>
      {children ? <div className="state-text">{children}</div> : null}
      {action ? <div className="state-action">{action}</div> : null}
    </div>
  );
}

export function ErrorState({ error, onRetry, title = "Could not load this" }: { error: unknown; onRetry?: () => void; title?: string }) {
  const detail = isApiError(error) ? error.detail : error instanceof Error ? error.message : String(error);
  const requestId = isApiError(error) ? error.requestId : null;
  return (
    <div className="state state-error" role="alert">
      <div className="state-icon" aria-hidden="true">
        !
      </div>
      <h3 className="state-title">{title}</h3>
      <p className="state-text">{detail}</p>
      {requestId ? <p className="state-text muted small">Request id: <code>{requestId}</code></p> : null}
      {onRetry ? (
        <button type="button" className="btn btn-secondary" onClick={onRetry}>
          Retry
        </button>
      ) : null}
    </div>
  );
}
