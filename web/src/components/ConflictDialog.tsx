// Explains a 412 `stale` answer: someone changed the resource after it was
// read. "Reload" re-reads it (the caller resets the form to the new version);
// the user then re-applies their change.
import { Dialog } from "./Dialog";

export interface ConflictDialogProps {
  open: boolean;
  /** What was changed, e.g. `user “bob”`. */
  what: string;
  onReload: () => void;
  onClose: () => void;
}

export function ConflictDialog({ open, what, onReload, onClose }: ConflictDialogProps) {
  return (
    <Dialog
      open={open}
      title="Changed by someone else"
      onClose={onClose}
      role="alertdialog"
      size="sm"
      initialFocus="[data-autofocus]"
      footer={
        <>
          <button type="button" className="btn btn-secondary" onClick={onClose}>
            Keep editing
          </button>
          <button type="button" className="btn btn-primary" data-autofocus onClick={onReload}>
            Reload latest version
          </button>
        </>
      }
    >
      <p>
        Your change was not saved: {what} was changed by someone else after you opened it, and saving now would
        overwrite their change.
      </p>
      <p className="muted">Reload to see the current version, then apply your change again.</p>
    </Dialog>
  );
}
