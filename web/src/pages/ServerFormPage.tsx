// Add a server (/servers/new) or edit one (/servers/:id/edit). Private keys
// and passphrases are write-only: they live in this form's state only until
// the request is sent, and are cleared once it succeeds (or when the API
// rejected the key itself).
import { useCallback, useEffect, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { api, call, callRaw, ifMatch, isApiError, type Server } from "../api/client";
import { ConflictDialog } from "../components/ConflictDialog";
import { CheckboxField, FormError, SelectField, TextAreaField, TextField, useFormErrors } from "../components/Form";
import { KeyValueEditor } from "../components/KeyValueEditor";
import { PageHeader } from "../components/Layout";
import { ErrorState, Loading } from "../components/States";
import { useToast } from "../components/Toasts";
import { formatDateTime } from "../lib/format";
import {
  KNOWN_PARAMETERS,
  createBody,
  emptyForm,
  formFromServer,
  patchBody,
  rowField,
  type CredentialsMode,
  type ServerFormValues,
} from "../lib/serverForm";

/** Every API field this form shows; "labels." and "parameters." cover each row. */
export const SERVER_FORM_FIELDS = [
  "name",
  "address",
  "port",
  "ssh_user",
  "privilege",
  "description",
  "labels.",
  "parameters.",
  "credentials",
  "credentials.private_key",
  "credentials.passphrase",
  "credentials.generate",
  "host_key",
] as const;

const PRIVILEGE_OPTIONS = [
  { value: "", label: "Default" },
  { value: "root", label: "root" },
  { value: "sudo", label: "sudo (passwordless)" },
];

export function ServerFormPage() {
  const { id } = useParams();
  const serverId = id ? Number(id) : null;
  const editing = serverId != null;
  const navigate = useNavigate();
  const toast = useToast();
  const form = useFormErrors(SERVER_FORM_FIELDS);
  const [v, setV] = useState<ServerFormValues>(emptyForm);
  const [current, setCurrent] = useState<{ server: Server; etag: string } | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [conflict, setConflict] = useState(false);

  const set = <K extends keyof ServerFormValues>(k: K, value: ServerFormValues[K]) => setV((prev) => ({ ...prev, [k]: value }));

  const load = useCallback(async (sid: number) => {
    setLoadError(null);
    try {
      const { data, response } = await callRaw(api.GET("/api/v1/servers/{id}", { params: { path: { id: sid } } }));
      setCurrent({ server: data, etag: response.headers.get("etag") ?? ifMatch(data.version) });
      setV(formFromServer(data));
    } catch (e) {
      setLoadError(e);
    }
  }, []);

  useEffect(() => {
    form.clear();
    if (serverId != null) void load(serverId);
    else setV(emptyForm());
  }, [serverId, load]);

  function clearSecrets() {
    setV((prev) => ({ ...prev, private_key: "", passphrase: "" }));
  }

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    form.clear();
    try {
      if (editing) {
        if (!current) return;
        const saved = await call(
          api.PATCH("/api/v1/servers/{id}", {
            params: { path: { id: current.server.id }, header: { "If-Match": current.etag } },
            body: patchBody(v, current.server),
          }),
        );
        clearSecrets();
        toast.success(`Server “${saved.name}” saved`);
        navigate(`/servers/${saved.id}`, { state: { generated: v.credentials === "generate" } });
      } else {
        const created = await call(api.POST("/api/v1/servers", { body: createBody(v) }));
        clearSecrets();
        toast.success(`Server “${created.name}” added`);
        navigate(`/servers/${created.id}`, { state: { generated: created.credentials.generated } });
      }
    } catch (err) {
      if (isApiError(err) && err.code === "stale") setConflict(true);
      else form.setError(err);
      // A rejected key is of no further use: do not keep it around.
      if (isApiError(err) && err.errors.some((x) => x.field.startsWith("credentials"))) clearSecrets();
    } finally {
      setBusy(false);
    }
  }

  const title = editing ? `Edit server “${current?.server.name ?? ""}”` : "Add server";
  const back = editing ? `/servers/${serverId}` : "/servers";

  if (editing && !current) {
    return (
      <>
        <PageHeader title={current ? title : "Edit server"} />
        <div className="card">{loadError ? <ErrorState error={loadError} onRetry={() => void load(serverId)} /> : <Loading label="Loading server…" />}</div>
      </>
    );
  }

  const credOptions: { value: CredentialsMode; label: string; hint: string }[] = [
    ...(editing
      ? [
          {
            value: "keep" as const,
            label: "Keep the current key",
            hint: `${current?.server.credentials.type} · ${current?.server.credentials.fingerprint}`,
          },
        ]
      : []),
    { value: "paste", label: "Paste a private key", hint: "OpenSSH or PEM (Ed25519, ECDSA, RSA). Sent once, stored encrypted, never shown again." },
    { value: "generate", label: "Generate a key pair for me", hint: "Gantry creates an Ed25519 key and shows the public key and the command that authorizes it." },
  ];

  return (
    <>
      <PageHeader
        title={title}
        description={editing ? "Change how Gantry reaches this server. Fields you leave unchanged stay as they are." : "Register a host that Gantry reaches over SSH."}
      />
      <form id="server-form" className="server-form" onSubmit={submit} noValidate aria-label={title}>
        {editing && current ? (
          <p className="muted small">
            Version {current.server.version} · last changed {formatDateTime(current.server.updated_at)}
          </p>
        ) : null}
        <section className="card" aria-labelledby="sf-connection">
          <h2 className="card-title" id="sf-connection">
            Connection
          </h2>
          <div className="form-grid">
            <TextField label="Name" name="name" required autoComplete="off" hint="Unique, e.g. web-1." value={v.name} onChange={(e) => set("name", e.target.value)} error={form.fieldError("name")} />
            <TextField label="Address" name="address" required autoComplete="off" hint="IPv4, IPv6 or DNS name." value={v.address} onChange={(e) => set("address", e.target.value)} error={form.fieldError("address")} />
            <TextField label="SSH port" name="port" inputMode="numeric" autoComplete="off" value={v.port} onChange={(e) => set("port", e.target.value)} error={form.fieldError("port")} />
            <TextField label="SSH user" name="ssh_user" autoComplete="off" hint="Default root." value={v.ssh_user} onChange={(e) => set("ssh_user", e.target.value)} error={form.fieldError("ssh_user")} />
            <SelectField label="Privilege" name="privilege" value={v.privilege} onChange={(e) => set("privilege", e.target.value as ServerFormValues["privilege"])} options={PRIVILEGE_OPTIONS} hint="Default: root for root, sudo for other users." error={form.fieldError("privilege")} />
          </div>
          <TextAreaField label="Description" name="description" rows={2} value={v.description} onChange={(e) => set("description", e.target.value)} error={form.fieldError("description")} />
        </section>

        <section className="card" aria-labelledby="sf-credentials">
          <h2 className="card-title" id="sf-credentials">
            Credentials
          </h2>
          <fieldset className="radio-group" aria-describedby={form.fieldError("credentials") ? "sf-credentials-error" : undefined}>
            <legend className="sr-only">SSH key</legend>
            {credOptions.map((o) => (
              <label key={o.value} className={`radio-card${v.credentials === o.value ? " radio-card-selected" : ""}`}>
                <input type="radio" name="credentials" value={o.value} checked={v.credentials === o.value} onChange={() => set("credentials", o.value)} />
                <span>
                  <span className="strong">{o.label}</span>
                  <span className="muted small radio-hint">{o.hint}</span>
                </span>
              </label>
            ))}
          </fieldset>
          {form.fieldError("credentials") ? (
            <p id="sf-credentials-error" className="field-error">
              {form.fieldError("credentials")}
            </p>
          ) : null}
          {v.credentials === "paste" ? (
            <div className="form-grid form-grid-key">
              <TextAreaField
                label="Private key"
                name="private_key"
                required
                rows={6}
                className="mono"
                spellCheck={false}
                autoComplete="off"
                placeholder="-----BEGIN OPENSSH PRIVATE KEY-----"
                value={v.private_key}
                onChange={(e) => set("private_key", e.target.value)}
                error={form.fieldError("credentials.private_key")}
              />
              <TextField
                label="Passphrase"
                name="passphrase"
                type="password"
                autoComplete="off"
                hint="Only if the key is encrypted. Used to open it, never stored."
                value={v.passphrase}
                onChange={(e) => set("passphrase", e.target.value)}
                error={form.fieldError("credentials.passphrase")}
              />
            </div>
          ) : null}
          {v.credentials === "generate" ? (
            <p className="notice notice-info">
              After saving, the server page shows the public key and a one-line command to run on the server to authorize it.
            </p>
          ) : null}
          <TextField
            label="Host key fingerprint"
            name="host_key"
            autoComplete="off"
            className="input mono"
            placeholder="SHA256:…"
            hint={
              <>
                Optional: pin it up front (on the server: <code>ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub</code>). Otherwise the first
                successful check pins it.
              </>
            }
            value={v.host_key}
            onChange={(e) => set("host_key", e.target.value)}
            error={form.fieldError("host_key")}
          />
        </section>

        <section className="card" aria-labelledby="sf-proxy">
          <h2 className="card-title" id="sf-proxy">
            Reverse proxy
          </h2>
          <CheckboxField
            label="Install the reverse proxy automatically once the server is reachable"
            name="proxy_auto_install"
            hint="When a check first reaches the server, Gantry installs nginx and its configuration and serves the domains of the groups bound to it. Otherwise install it from the server's page."
            checked={v.proxy_auto_install}
            onChange={(e) => set("proxy_auto_install", e.target.checked)}
            error={form.fieldError("parameters.proxy_auto_install")}
          />
        </section>

        <section className="card" aria-labelledby="sf-extra">
          <h2 className="card-title" id="sf-extra">
            Labels and parameters
          </h2>
          <div className="grid grid-2 kv-grid">
            <KeyValueEditor
              legend="Labels"
              hint="Group and filter servers, e.g. env = prod."
              rows={v.labels}
              onChange={(rows) => set("labels", rows)}
              rowError={(r) => form.fieldError(rowField("labels", r))}
              keyPlaceholder="env"
              valuePlaceholder="prod"
              addLabel="Add label"
            />
            <KeyValueEditor
              legend="Parameters"
              hint={`Extra settings: ${KNOWN_PARAMETERS.map((p) => p.key).join(", ")}.`}
              rows={v.parameters}
              onChange={(rows) => set("parameters", rows)}
              rowError={(r) => form.fieldError(rowField("parameters", r))}
              keyPlaceholder="connect_timeout_seconds"
              valuePlaceholder="10"
              suggestions={KNOWN_PARAMETERS.map((p) => p.key)}
              addLabel="Add parameter"
            />
          </div>
        </section>

        <FormError message={form.formMessage} />
        <div className="form-actions form-actions-page">
          <Link to={back} className="btn btn-secondary">
            Cancel
          </Link>
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? (editing ? "Saving…" : "Adding…") : editing ? "Save changes" : "Add server"}
          </button>
        </div>
      </form>
      <ConflictDialog
        open={conflict}
        what={`server “${current?.server.name ?? ""}”`}
        onClose={() => setConflict(false)}
        onReload={() => {
          setConflict(false);
          form.clear();
          setCurrent(null);
          if (serverId != null) void load(serverId);
        }}
      />
    </>
  );
}
