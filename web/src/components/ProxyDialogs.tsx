// Dialogs of the proxy module: apply (optionally forced, with a reason) and
// uninstall (optionally removing the nginx package); the reason field is also
// the rollback's and the rollout's.
import { useEffect, useState, type ReactNode } from "react";
import type { Job } from "../api/client";
import { applyProxy, uninstallProxy } from "../api/proxy";
import { ConfirmDialog } from "./ConfirmDialog";
import { TextAreaField, useFormErrors } from "./Form";
import { FormDialog } from "./FormDialog";

const APPLY_FIELDS = ["reason", "force"] as const;

/** The optional reason of an apply, rollback or rollout (the API keeps up to 500 characters); `hint` says where it is shown. */
export function ReasonField({ hint, value, onChange, error }: { hint: string; value: string; onChange: (value: string) => void; error?: string }) {
  return <TextAreaField label="Reason" name="reason" rows={2} maxLength={500} hint={hint} value={value} onChange={(e) => onChange(e.target.value)} error={error} />;
}

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
  useEffect(() => {
    if (open) setReason("");
  }, [open]);

  return (
    <FormDialog
      open={open}
      title={force ? `Re-apply the configuration to “${serverName}”?` : `Apply the pending changes to “${serverName}”?`}
      onClose={onClose}
      role={force ? "alertdialog" : "dialog"}
      initialFocus="textarea"
      form={form}
      onSubmit={async () => onStarted(await applyProxy(serverId, { reason: reason.trim() || null, ...(force ? { force: true } : {}) }))}
      submitLabel={force ? "Re-apply" : "Apply changes"}
      busyLabel="Starting…"
      danger={force}
    >
      {children}
      <ReasonField hint="Optional; shown on the generation and in the audit log." value={reason} onChange={setReason} error={form.fieldError("reason")} />
    </FormDialog>
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
  return (
    <ConfirmDialog
      open={open}
      title={`Uninstall the reverse proxy from “${serverName}”?`}
      confirmLabel="Uninstall"
      option={{
        name: "remove_package",
        label: "Also remove the nginx package",
        hint: "Without this, nginx stays installed with the server's own configuration.",
        confirmLabel: "Uninstall and remove nginx",
      }}
      onClose={onClose}
      onConfirm={async (removePackage) => onStarted(await uninstallProxy(serverId, removePackage))}
    >
      <p>
        Gantry removes its configuration from <strong>{serverName}</strong> and reloads nginx: the domains of the groups bound to this
        server are no longer served by it. The generation history stays in Gantry.
      </p>
    </ConfirmDialog>
  );
}
