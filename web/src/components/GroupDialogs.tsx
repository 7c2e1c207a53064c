// Dialogs of domain groups: create a group, and delete one (choosing what
// happens to its domains).
import { useEffect, useState } from "react";
import { createGroup, deleteGroup } from "../api/domains";
import type { DomainGroup } from "../api/domainTypes";
import { ConfirmDialog } from "./ConfirmDialog";
import { CheckboxField, SelectField, TextAreaField, TextField, useFormErrors } from "./Form";
import { FormDialog } from "./FormDialog";
import { plural } from "../lib/selection";

export const GROUP_FIELDS = ["name", "description", "server_id", "manual_approval", "auto_repair"] as const;

export function serverOptions(servers: { id: number; name: string }[]) {
  return [{ value: "", label: "No server (not deployed)" }, ...servers.map((s) => ({ value: String(s.id), label: s.name }))];
}

export function NewGroupDialog({
  open,
  servers,
  onClose,
  onCreated,
}: {
  open: boolean;
  servers: { id: number; name: string }[];
  onClose: () => void;
  onCreated: (g: DomainGroup) => void;
}) {
  const form = useFormErrors(GROUP_FIELDS);
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [serverId, setServerId] = useState("");
  const [manual, setManual] = useState(false);
  const [autoRepair, setAutoRepair] = useState(false);

  useEffect(() => {
    if (!open) return;
    setName("");
    setDescription("");
    setServerId("");
    setManual(false);
    setAutoRepair(false);
  }, [open]);

  return (
    <FormDialog
      open={open}
      title="New domain group"
      onClose={onClose}
      form={form}
      onSubmit={async () =>
        onCreated(await createGroup({ name: name.trim(), description, server_id: serverId ? Number(serverId) : null, manual_approval: manual, auto_repair: autoRepair }))
      }
      submitLabel="Create group"
      busyLabel="Creating…"
    >
      <TextField label="Name" name="name" required autoComplete="off" value={name} onChange={(e) => setName(e.target.value)} error={form.fieldError("name")} />
      <TextAreaField label="Description" name="description" rows={2} value={description} onChange={(e) => setDescription(e.target.value)} error={form.fieldError("description")} />
      <SelectField
        label="Server"
        name="server_id"
        hint="The server whose reverse proxy serves the group's domains."
        value={serverId}
        onChange={(e) => setServerId(e.target.value)}
        options={serverOptions(servers)}
        error={form.fieldError("server_id")}
      />
      <CheckboxField
        label="Manual approval"
        name="manual_approval"
        hint="Changes to this group's domains wait as a pending plan until an operator applies them."
        checked={manual}
        onChange={(e) => setManual(e.target.checked)}
        error={form.fieldError("manual_approval")}
      />
      <CheckboxField
        label="Repair drift automatically"
        name="auto_repair"
        hint="Hand edits of this group's configuration on the server are re-applied away by the drift check."
        checked={autoRepair}
        onChange={(e) => setAutoRepair(e.target.checked)}
        error={form.fieldError("auto_repair")}
      />
    </FormDialog>
  );
}

export function DeleteGroupDialog({
  open,
  group,
  groups,
  onClose,
  onDeleted,
  onDeleting,
}: {
  open: boolean;
  group: DomainGroup;
  /** Other groups, for "move the domains to". */
  groups: DomainGroup[];
  onClose: () => void;
  onDeleted: () => void;
  /** Called with true when the delete request starts, false if it failed (the page stops re-reading the group meanwhile). */
  onDeleting?: (inFlight: boolean) => void;
}) {
  const others = groups.filter((g) => g.id !== group.id);
  const [chosen, setMode] = useState<"delete" | "move">("move");
  const mode = others.length === 0 ? "delete" : chosen;
  const [moveTo, setMoveTo] = useState("");
  const n = group.domain_count;
  return (
    <ConfirmDialog
      open={open}
      title={`Delete group “${group.name}”?`}
      confirmLabel={n === 0 ? "Delete group" : mode === "delete" ? `Delete group and ${plural(n, "domain")}` : `Move ${plural(n, "domain")} and delete group`}
      onClose={onClose}
      onConfirm={async () => {
        if (n > 0 && mode === "move" && !moveTo) throw new Error("Choose the group to move the domains to.");
        // If the count changed meanwhile, the API's 409 detail shows in the dialog.
        onDeleting?.(true);
        try {
          await deleteGroup(group.id, n === 0 ? {} : mode === "delete" ? { domains: "delete" } : { domains: "move", move_to: Number(moveTo) });
        } catch (e) {
          onDeleting?.(false);
          throw e;
        }
        onDeleted();
      }}
    >
      {n === 0 ? (
        <p>
          The group <strong>{group.name}</strong> has no domains. It is removed from Gantry. This cannot be undone.
        </p>
      ) : (
        <>
          <p>
            The group <strong>{group.name}</strong> has {plural(n, "domain")}. Choose what happens to {n === 1 ? "it" : "them"}:
          </p>
          <fieldset className="radio-group">
            <legend className="sr-only">What happens to the domains</legend>
            <label className={`radio-card${mode === "move" ? " radio-card-selected" : ""}`}>
              <input type="radio" name="group-delete-mode" value="move" checked={mode === "move"} onChange={() => setMode("move")} disabled={others.length === 0} />
              <span>
                <span className="strong">Move {n === 1 ? "it" : `the ${n} domains`} to another group</span>
                <span className="muted small radio-hint">{others.length === 0 ? "There is no other group." : "They are then served by that group's server."}</span>
              </span>
            </label>
            <label className={`radio-card${mode === "delete" ? " radio-card-selected" : ""}`}>
              <input type="radio" name="group-delete-mode" value="delete" checked={mode === "delete"} onChange={() => setMode("delete")} />
              <span>
                <span className="strong">Delete {n === 1 ? "the domain" : `all ${n} domains`}</span>
                <span className="muted small radio-hint">They are no longer served. This cannot be undone.</span>
              </span>
            </label>
          </fieldset>
          {mode === "move" ? (
            <SelectField
              label="Move the domains to"
              name="move_to"
              value={moveTo}
              onChange={(e) => setMoveTo(e.target.value)}
              options={[{ value: "", label: "Choose a group…" }, ...others.map((g) => ({ value: String(g.id), label: g.server ? `${g.name} (${g.server.name})` : g.name }))]}
            />
          ) : null}
        </>
      )}
    </ConfirmDialog>
  );
}
