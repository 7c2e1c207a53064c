// Dialogs of the proxy module: apply (optionally forced, with a reason) and
// uninstall (optionally removing the nginx package).
import { useEffect, useState, type ReactNode } from "react";
import type { Job } from "../api/client";
import { applyProxy, uninstallProxy } from "../api/proxy";
import { ConfirmDialog } from "./ConfirmDialog";
import { Dialog } from "./Dialog";
import { CheckboxField, FormError, TextAreaField, useFormErrors } from "./Form";

const APPLY_FIELDS = ["reason", "force"] as const;

export function ApplyDialog({
  open,
  serverId,
  serverName,
  force = false,
  children,
  onClose,
  onStarted,
}: {
  open: boolean;
  serverId: number;
  serverName: string;
  /** Re-apply: a new generation and a reload even if nothing changed (repairs drift). */
  force?: boolean;
  /** What applying changes, shown above the reason. */
  children?: ReactNode;
  onClose: () => void;
  onStarted: (job: Job) => void;
}) {
  const form = useFormErrors(APPLY_FIELDS);
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!open) return;
    setReason("");
    form.clear();
  }, [open]);

  const title = force ? `Re-apply the configuration to “${serverName}”?` : `Apply the pending changes to “${serverName}”?`;
  const formId = force ? "proxy-reapply-form" : "proxy-apply-form";

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    form.clear();
    try {
      const job = await applyProxy(serverId, { reason: reason.trim() || null, ...(force ? { force: true } : {}) });
      onStarted(job);
    } catch (err) {
      form.setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog
      open={open}
      title={title}
      onClose={onClose}
      busy={busy}
      role={force ? "alertdialog" : "dialog"}
      initialFocus="textarea"
      footer={
        <>
          <button type="button" className="btn btn-secondary" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" form={formId} className={`btn ${force ? "btn-danger" : "btn-primary"}`} disabled={busy}>
            {busy ? "Starting…" : force ? "Re-apply" : "Apply changes"}
          </button>
        </>
      }
    >
      <form id={formId} onSubmit={submit} noValidate aria-label={force ? "Re-apply" : "Apply changes"} className="form">
        {children}
        <TextAreaField
          label="Reason"
          name="reason"
          rows={2}
          maxLength={500}
          hint="Optional; shown on the generation and in the audit log."
          value={reason}
          onChange={(e) => setReason(e.target.value)}
          error={form.fieldError("reason")}
        />
        <FormError message={form.formMessage} />
      </form>
    </Dialog>
  );
}

export function UninstallDialog({
  open,
  serverId,
  serverName,
  onClose,
  onStarted,
}: {
  open: boolean;
  serverId: number;
  serverName: string;
  onClose: () => void;
  onStarted: (job: Job) => void;
}) {
  const [removePackage, setRemovePackage] = useState(false);
  useEffect(() => {
    if (open) setRemovePackage(false);
  }, [open]);
  return (
    <ConfirmDialog
      open={open}
      title={`Uninstall the reverse proxy from “${serverName}”?`}
      confirmLabel={removePackage ? "Uninstall and remove nginx" : "Uninstall"}
      onClose={onClose}
      onConfirm={async () => {
        const job = await uninstallProxy(serverId, removePackage);
        onStarted(job);
      }}
    >
      <p>
        Gantry removes its configuration from <strong>{serverName}</strong> and reloads nginx: the domains of the groups bound to this
        server are no longer served by it. The generation history stays in Gantry.
      </p>
      <CheckboxField
        label="Also remove the nginx package"
        name="remove_package"
        checked={removePackage}
        onChange={(e) => setRemovePackage(e.target.checked)}
        hint="Without this, nginx stays installed with the server's own configuration."
      />
    </ConfirmDialog>
  );
}
