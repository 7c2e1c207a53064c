// Confirmation for destructive or far-reaching actions. The title and message
// must name exactly what is affected ("Revoke token “ci-deploy”?"). Focus
// starts on Cancel so a stray Enter never destroys anything.
import { useEffect, useState, type ReactNode } from "react";
import { Dialog } from "./Dialog";
import { CheckboxField } from "./Form";
import { ApiError, isApiError } from "../api/client";

/** A checkbox under the message that widens the action ("Also remove the nginx package"). */
export interface ConfirmOption {
  name: string;
  label: string;
  hint: string;
  /** The confirm button's label while the option is ticked. */
  confirmLabel?: string;
}

export interface ConfirmDialogProps {
  open: boolean;
  title: ReactNode;
  /** What happens, naming the target. */
  children: ReactNode;
  confirmLabel: string;
  /** Red confirm button (default true). */
  danger?: boolean;
  /** Unticked each time the dialog opens; `onConfirm` gets whether it is ticked. */
  option?: ConfirmOption;
  onConfirm: (option: boolean) => Promise<void> | void;
  onClose: () => void;
}

export function ConfirmDialog({ open, title, children, confirmLabel, danger = true, option, onConfirm, onClose }: ConfirmDialogProps) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | Error | null>(null);
  const [ticked, setTicked] = useState(false);
  useEffect(() => {
    if (open) setTicked(false);
  }, [open]);

  async function confirm() {
    setBusy(true);
    setError(null);
    try {
      await onConfirm(ticked);
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
            {busy ? "Working…" : ticked && option?.confirmLabel ? option.confirmLabel : confirmLabel}
          </button>
        </>
      }
    >
      <div className="confirm-message">
        {children}
        {option ? <CheckboxField name={option.name} label={option.label} hint={option.hint} checked={ticked} onChange={(e) => setTicked(e.target.checked)} /> : null}
      </div>
      {error ? (
        <p className="form-error" role="alert">
          {isApiError(error) ? error.detail : error.message}
        </p>
      ) : null}
    </Dialog>
  );
}
