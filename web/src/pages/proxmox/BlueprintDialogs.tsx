// The blueprint form (name, description, strategy, role, create users, and
// the VM list) and the YAML import. Field errors of a VM (`vms[0].networks[1]`)
// show on its row; YAML errors name line and column.
import { useEffect, useId, useState } from "react";
import { isApiError } from "../../api/client";
import { createBlueprint, importBlueprint, STRATEGIES, updateBlueprint, type StoredBlueprint } from "../../api/pve";
import { CheckboxField, SelectField, TextAreaField, TextField, useFormErrors } from "../../components/Form";
import { FormDialog } from "../../components/FormDialog";
import { BLUEPRINT_FIELDS, blueprintToForm, emptyBlueprintForm, formToBlueprint, vmRow, type BlueprintForm, type VmRow } from "../../lib/pve";

const STRATEGY_LABELS: Record<string, string> = {
  balanced: "balanced: least loaded node",
  pack: "pack: fill nodes one by one",
  spread: "spread: a user's VMs on different nodes",
  "same-node": "same-node: a user's VMs together",
};

const VM_INPUTS = [
  { key: "key", label: "Key", placeholder: "web", mono: true },
  { key: "template", label: "Template", placeholder: "debian-12", mono: true },
  { key: "name", label: "Name pattern", placeholder: "{user}-{vm}", mono: true },
  { key: "cores", label: "Cores", placeholder: "template's", mono: false },
  { key: "memory_mib", label: "Memory (MiB)", placeholder: "template's", mono: false },
  { key: "networks", label: "Networks", placeholder: "hq.100, lab", mono: true },
  { key: "storage", label: "Storage", placeholder: "template's", mono: true },
] as const;

function VmEditor({ rows, onChange, error }: { rows: VmRow[]; onChange: (rows: VmRow[]) => void; error: (index: number) => string | undefined }) {
  const uid = useId();
  const set = (id: number, patch: Partial<VmRow>) => onChange(rows.map((r) => (r.id === id ? { ...r, ...patch } : r)));
  return (
    <fieldset className="kv-editor pve-vm-editor">
      <legend className="field-label">VMs per user</legend>
      <p className="field-hint">
        Name placeholders: <code>{"{user}"}</code>, <code>{"{realm}"}</code>, <code>{"{n}"}</code>, <code>{"{vm}"}</code>. Networks are aliases such as{" "}
        <code>hq.100</code> (bridge hq, VLAN 100), comma separated, one NIC each.
      </p>
      <ol className="kv-rows">
        {rows.map((r, i) => {
          const err = error(i);
          const errId = `vm${uid}-${r.id}-error`;
          const n = i + 1;
          return (
            <li key={r.id} className={`kv-row pve-vm-row${err ? " field-invalid" : ""}`} aria-label={`VM ${n}`}>
              <div className="pve-vm-inputs">
                {VM_INPUTS.map((s) => (
                  <label key={s.key} className="pve-vm-input">
                    <span className="small muted">{s.label}</span>
                    <input
                      className={`input${s.mono ? " mono" : ""}`}
                      aria-label={`VM ${n} ${s.label.toLowerCase()}`}
                      placeholder={s.placeholder}
                      value={r[s.key]}
                      autoComplete="off"
                      spellCheck={false}
                      inputMode={s.key === "cores" || s.key === "memory_mib" ? "numeric" : undefined}
                      aria-invalid={err ? true : undefined}
                      aria-describedby={err ? errId : undefined}
                      onChange={(e) => set(r.id, { [s.key]: e.target.value })}
                    />
                  </label>
                ))}
                <label className="pve-vm-input">
                  <span className="small muted">Clone</span>
                  <select className="input select" aria-label={`VM ${n} clone`} value={r.clone} onChange={(e) => set(r.id, { clone: e.target.value as VmRow["clone"] })}>
                    <option value="linked">linked</option>
                    <option value="full">full</option>
                  </select>
                </label>
                <label className="pve-vm-check">
                  <input type="checkbox" checked={r.start} onChange={(e) => set(r.id, { start: e.target.checked })} aria-label={`VM ${n} start`} />
                  <span className="small">Start</span>
                </label>
                <button type="button" className="btn btn-ghost btn-icon" aria-label={`Remove VM ${n}${r.key ? ` (${r.key})` : ""}`} onClick={() => onChange(rows.filter((x) => x.id !== r.id))}>
                  <span aria-hidden="true">×</span>
                </button>
              </div>
              {err ? (
                <p id={errId} className="field-error">
                  {err}
                </p>
              ) : null}
            </li>
          );
        })}
      </ol>
      <button type="button" className="btn btn-secondary btn-sm" onClick={() => onChange([...rows, vmRow()])}>
        Add VM
      </button>
    </fieldset>
  );
}

export interface BlueprintDialogProps {
  open: boolean;
  /** The blueprint to edit; null creates one. */
  blueprint: StoredBlueprint | null;
  onClose: () => void;
  onSaved: (b: StoredBlueprint) => void;
}

export function BlueprintDialog({ open, blueprint, onClose, onSaved }: BlueprintDialogProps) {
  const form = useFormErrors(BLUEPRINT_FIELDS);
  const [f, setF] = useState<BlueprintForm>(emptyBlueprintForm);
  useEffect(() => {
    if (open) setF(blueprint ? blueprintToForm(blueprint.spec) : emptyBlueprintForm());
  }, [open, blueprint]);
  const set = (patch: Partial<BlueprintForm>) => setF((prev) => ({ ...prev, ...patch }));
  const editing = blueprint != null;
  return (
    <FormDialog
      open={open}
      title={editing ? `Edit blueprint “${blueprint.spec.name}”` : "New blueprint"}
      onClose={onClose}
      form={form}
      size="lg"
      submitLabel={editing ? "Save blueprint" : "Create blueprint"}
      busyLabel="Saving…"
      onSubmit={async () => {
        const body = formToBlueprint(f);
        onSaved(editing ? await updateBlueprint(blueprint.id, body) : await createBlueprint(body));
      }}
    >
      <div className="form-grid">
        <TextField name="name" label="Name" required value={f.name} onChange={(e) => set({ name: e.target.value })} error={form.fieldError("name")} autoComplete="off" placeholder="net-lab" />
        <SelectField
          name="strategy"
          label="Placement"
          value={f.strategy}
          onChange={(e) => set({ strategy: e.target.value as BlueprintForm["strategy"] })}
          error={form.fieldError("strategy")}
          options={STRATEGIES.map((s) => ({ value: s, label: STRATEGY_LABELS[s] ?? s }))}
        />
        <TextField name="role" label="Role on the user's pool" value={f.role} onChange={(e) => set({ role: e.target.value })} error={form.fieldError("role")} placeholder="PVEVMUser" hint="Empty: PVEVMUser." className="input mono" />
      </div>
      <TextField name="description" label="Description" value={f.description} onChange={(e) => set({ description: e.target.value })} error={form.fieldError("description")} />
      <CheckboxField
        name="create_users"
        label="Create users that do not exist yet"
        hint="With a generated password, shown once after the deployment."
        checked={f.create_users}
        onChange={(e) => set({ create_users: e.target.checked })}
        error={form.fieldError("create_users")}
      />
      <VmEditor rows={f.vms} onChange={(vms) => set({ vms })} error={(i) => form.itemError("vms", i)} />
      {form.fieldError("vms") ? <p className="field-error">{form.fieldError("vms")}</p> : null}
    </FormDialog>
  );
}

export const YAML_EXAMPLE = `name: net-lab
description: Two VMs per student
strategy: balanced
vms:
  - key: router
    template: debian-12
    name: "{user}-router"
    networks: [hq.100, hq.200]
    start: true
  - key: client
    template: debian-12
    memory_mib: 1024
    networks: [hq.200]
`;

/** The problem's errors as lines: "vms[0].networks[0]: line 7, column 16: …". */
export function yamlErrorLines(e: unknown): string[] | null {
  if (!isApiError(e) || e.errors.length === 0) return null;
  return e.errors.map((x) => (x.field === "yaml" ? x.message : `${x.field}: ${x.message}`));
}

export function ImportBlueprintDialog({ open, onClose, onImported }: { open: boolean; onClose: () => void; onImported: (b: StoredBlueprint) => void }) {
  const form = useFormErrors(["yaml"]);
  const [yaml, setYaml] = useState("");
  const [replace, setReplace] = useState(false);
  const [errors, setErrors] = useState<string[] | null>(null);
  useEffect(() => {
    if (open) {
      setYaml("");
      setReplace(false);
      setErrors(null);
    }
  }, [open]);
  return (
    <FormDialog
      open={open}
      title="Import blueprint from YAML"
      onClose={onClose}
      form={form}
      size="lg"
      submitLabel="Import"
      busyLabel="Importing…"
      onSubmit={async () => {
        setErrors(null);
        try {
          onImported(await importBlueprint(yaml, replace));
        } catch (e) {
          const lines = yamlErrorLines(e);
          if (!lines) throw e;
          setErrors(lines);
        }
      }}
    >
      <TextAreaField
        name="yaml"
        label="deployment_config.yml"
        required
        rows={14}
        className="mono textarea-import"
        fieldClassName="pve-yaml"
        placeholder={YAML_EXAMPLE}
        value={yaml}
        onChange={(e) => setYaml(e.target.value)}
        error={errors ? errors.join("\n") : undefined}
        hint="A blueprint as Gantry exports it. Errors name the line and column."
        spellCheck={false}
      />
      <CheckboxField name="replace" label="Replace the blueprint of the same name" hint="Running deployments keep their own copy." checked={replace} onChange={(e) => setReplace(e.target.checked)} />
    </FormDialog>
  );
}
