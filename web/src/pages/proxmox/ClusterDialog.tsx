// Add or edit a Proxmox cluster: endpoints, an API token (or user and
// password), and a pinned fingerprint (or CA bundle), the VMID range. The
// secret is write-only: empty when editing ("leave empty to keep"), cleared
// whenever the dialog closes. Pasting a whole token (`user@realm!name=secret`)
// into the token id fills both fields.
import { useEffect, useState } from "react";
import { isApiError } from "../../api/client";
import { createCluster, updateCluster, type PveCluster } from "../../api/pve";
import { SelectField, TextAreaField, TextField, useFormErrors } from "../../components/Form";
import { FormDialog } from "../../components/FormDialog";
import { CLUSTER_FIELDS, EMPTY_CLUSTER_FORM, clusterBody, clusterToForm, endpointsError, splitToken, type ClusterForm } from "../../lib/pve";

export interface ClusterDialogProps {
  open: boolean;
  /** The cluster to edit; null adds one. */
  cluster: PveCluster | null;
  onClose: () => void;
  onSaved: (c: PveCluster) => void;
}

export function ClusterDialog({ open, cluster, onClose, onSaved }: ClusterDialogProps) {
  const form = useFormErrors(CLUSTER_FIELDS);
  const [f, setF] = useState<ClusterForm>(EMPTY_CLUSTER_FORM);
  useEffect(() => {
    if (open) setF(cluster ? clusterToForm(cluster) : EMPTY_CLUSTER_FORM);
    else setF(EMPTY_CLUSTER_FORM); // the secret does not outlive the dialog
  }, [open, cluster]);
  const set = (patch: Partial<ClusterForm>) => setF((prev) => ({ ...prev, ...patch }));
  const editing = cluster != null;
  const apiErrors = isApiError(form.error) ? form.error.errors : [];

  function setTokenId(value: string) {
    const split = value.includes("=") ? splitToken(value) : null;
    if (split) set({ token_id: split.tokenId, secret: split.secret });
    else set({ token_id: value });
  }

  return (
    <FormDialog
      open={open}
      title={editing ? `Edit cluster “${cluster.name}”` : "Add Proxmox cluster"}
      onClose={onClose}
      form={form}
      size="lg"
      submitLabel={editing ? "Save cluster" : "Add cluster"}
      busyLabel="Saving…"
      onSubmit={async () => {
        const body = clusterBody(f);
        try {
          onSaved(editing ? await updateCluster(cluster.id, body) : await createCluster(body));
        } catch (e) {
          // A rejected secret is not kept in the page.
          if (isApiError(e) && e.fieldError("secret")) set({ secret: "" });
          throw e;
        }
      }}
    >
      <div className="form-grid">
        <TextField name="name" label="Name" required value={f.name} onChange={(e) => set({ name: e.target.value })} error={form.fieldError("name")} hint="Letters, digits, '-', '_' or '.'." autoComplete="off" />
        <TextField
          name="vmid_first"
          label="First VMID"
          inputMode="numeric"
          value={f.vmid_first}
          onChange={(e) => set({ vmid_first: e.target.value })}
          error={form.fieldError("vmid_first")}
          hint="Empty: Gantry's default range."
        />
        <TextField name="vmid_last" label="Last VMID" inputMode="numeric" value={f.vmid_last} onChange={(e) => set({ vmid_last: e.target.value })} error={form.fieldError("vmid_last")} />
      </div>
      <TextAreaField
        name="endpoints"
        label="API endpoints"
        required
        rows={3}
        className="mono"
        placeholder="https://pve1.example.com:8006"
        value={f.endpoints}
        onChange={(e) => set({ endpoints: e.target.value })}
        error={endpointsError(apiErrors)}
        hint="One per line, in fail-over order."
        spellCheck={false}
      />
      <div className="form-grid">
        <SelectField
          name="auth"
          label="Authentication"
          value={f.auth}
          onChange={(e) => set({ auth: e.target.value as ClusterForm["auth"] })}
          options={[
            { value: "token", label: "API token (recommended)" },
            { value: "password", label: "User and password" },
          ]}
        />
        {f.auth === "token" ? (
          <TextField
            name="token_id"
            label="Token ID"
            required
            className="input mono"
            placeholder="root@pam!gantry"
            value={f.token_id}
            onChange={(e) => setTokenId(e.target.value)}
            error={form.fieldError("token_id")}
            hint="user@realm!name. Pasting the whole token (…!name=secret) fills the secret too."
            autoComplete="off"
            spellCheck={false}
          />
        ) : (
          <TextField
            name="username"
            label="User"
            required
            className="input mono"
            placeholder="gantry@pve"
            value={f.username}
            onChange={(e) => set({ username: e.target.value })}
            error={form.fieldError("username") ?? form.fieldError("token_id")}
            autoComplete="off"
            spellCheck={false}
          />
        )}
        <TextField
          name="secret"
          type="password"
          label={f.auth === "token" ? "Token secret" : "Password"}
          required={!editing}
          value={f.secret}
          onChange={(e) => set({ secret: e.target.value })}
          error={form.fieldError("secret")}
          hint={editing ? "Leave empty to keep the stored secret." : "Stored encrypted; never shown again."}
          autoComplete="new-password"
        />
      </div>
      <SelectField
        name="trust"
        label="Trust the API certificate by"
        value={f.trust}
        onChange={(e) => set({ trust: e.target.value as ClusterForm["trust"] })}
        options={[
          { value: "fingerprint", label: "Pinned SHA-256 fingerprint" },
          { value: "ca", label: "CA bundle" },
        ]}
      />
      {f.trust === "fingerprint" ? (
        <TextField
          name="fingerprint"
          label="Certificate fingerprint (SHA-256)"
          className="input mono"
          placeholder="AB:CD:…"
          value={f.fingerprint}
          onChange={(e) => set({ fingerprint: e.target.value })}
          error={form.fieldError("fingerprint")}
          hint="Datacenter → node → System → Certificates. Gantry never connects unverified."
          spellCheck={false}
        />
      ) : (
        <TextAreaField
          name="ca_pem"
          label="CA bundle (PEM)"
          rows={5}
          className="mono textarea-pem"
          value={f.ca_pem}
          onChange={(e) => set({ ca_pem: e.target.value })}
          error={form.fieldError("ca_pem") ?? form.fieldError("fingerprint")}
          hint={editing && cluster.has_ca ? "The stored bundle is not shown: paste it again when saving." : "The CA that signed the API certificate."}
          spellCheck={false}
        />
      )}
    </FormDialog>
  );
}
