// A dialog that is one form: its fields in the body, Cancel and the submit
// button in the footer. While `onSubmit` runs the dialog is busy (buttons
// disabled, Escape and the backdrop do nothing, the label says so); what it
// throws goes to `form`, so the API's field errors show next to their fields
// and the rest in the banner under them.
import { useEffect, useId, useState, type ReactNode } from "react";
import { Dialog, type DialogProps } from "./Dialog";
import { FormError, type FormErrors } from "./Form";

export interface FormDialogProps extends Pick<DialogProps, "open" | "onClose" | "role" | "size" | "initialFocus"> {
  /** Also the form's accessible name. */
  title: string;
  /** From `useFormErrors`: cleared when the dialog opens and on every submit. */
  form: FormErrors;
  onSubmit: () => Promise<void>;
  submitLabel: string;
  /** The submit button's label while the request runs ("Creating…"). */
  busyLabel: string;
  /** Red submit button (forced or destructive actions). */
  danger?: boolean;
  /** False keeps the submit button disabled (nothing loaded or chosen yet). */
  canSubmit?: boolean;
  children: ReactNode;
}

export function FormDialog({ open, onClose, title, form, onSubmit, submitLabel, busyLabel, danger = false, canSubmit = true, children, ...dialog }: FormDialogProps) {
  const formId = useId();
  const [busy, setBusy] = useState(false);
  // A dialog opens without the errors of its last use.
  useEffect(() => {
    if (open) form.clear();
  }, [open]);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    form.clear();
    try {
      await onSubmit();
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
      {...dialog}
      footer={
        <>
          <button type="button" className="btn btn-secondary" onClick={onClose} disabled={busy}>
            Cancel
          </button>
          <button type="submit" form={formId} className={`btn ${danger ? "btn-danger" : "btn-primary"}`} disabled={busy || !canSubmit}>
            {busy ? busyLabel : submitLabel}
          </button>
        </>
      }
    >
      <form id={formId} className="form" onSubmit={submit} noValidate aria-label={title}>
        {children}
        <FormError message={form.formMessage} />
      </form>
    </Dialog>
  );
}
