// Confirmation for destructive or far-reaching actions. The title and message
// must name exactly what is affected ("Revoke token “ci-deploy”?"). Focus
// starts on Cancel so a stray Enter never destroys anything.
import { useState, type ReactNode } from "react";
import { Dialog } from "./Dialog";
import { ApiError, isApiError } from "../api/client";

export interface ConfirmDialogProps {
  open: boolean;
  title: ReactNode;
  /** What happens, naming the target. */
  children: ReactNode;
  confirmLabel: string;
  /** Red confirm button (default true). */
  danger?: boolean;
  onConfirm: () => Promise<void> | void;
  onClose: () => void;
}

export function ConfirmDialog({ open, title, children, confirmLabel, danger = true, onConfirm, onClose }: ConfirmDialogProps) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | Error | null>(null);

  async function confirm() {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      setBusy(false);
      onClose();
    } catch (e) {
      setBusy(false);
      setError(e instanceof Error ? e : new Error(String(e)));
    }
  }

  function close() {
    setError(null);
    onClose();
  }

  return (
    <Dialog
      open={open}
      title={title}
      onClose={close}
      role="alertdialog"
      size="sm"
      busy={busy}
      initialFocus="[data-autofocus]"
      footer={
        <>
          <button type="button" className="btn btn-secondary" data-autofocus onClick={close} disabled={busy}>
            Cancel
          </button>
          <button type="button" className={`btn ${danger ? "btn-danger" : "btn-primary"}`} onClick={confirm} disabled={busy}>
            {busy ? "Working…" : confirmLabel}
          </button>
        </>
      }
    >
      <div className="confirm-message">{children}</div>
      {error ? (
        <p className="form-error" role="alert">
          {isApiError(error) ? error.detail : error.message}
        </p>
      ) : null}
    </Dialog>
  );
}
