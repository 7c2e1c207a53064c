import { useEffect, useState } from "react";
import { api, call, hasRole, ROLES, type CreatedToken, type Role, type TokenInfo } from "../api/client";
import { useMe } from "../auth/AuthContext";
import { Badge, RoleBadge } from "../components/Badge";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { DataTable, type Column } from "../components/DataTable";
import { Dialog } from "../components/Dialog";
import { FormError, SelectField, TextField, useFormErrors } from "../components/Form";
import { FormDialog } from "../components/FormDialog";
import { PageHeader } from "../components/Layout";
import { EmptyState } from "../components/States";
import { useToast } from "../components/Toasts";
import { formatDateTime, formatRelative } from "../lib/format";
import { useCursorList, type CursorQuery } from "../lib/useCursorList";

export function AccountPage() {
  const me = useMe();
  return (
    <>
      <PageHeader title="Account" description="Your profile, password and API tokens." />
      <div className="grid grid-2">
        <section className="card" aria-labelledby="profile-title">
          <h2 id="profile-title" className="card-title">Profile</h2>
          <dl className="facts facts-stacked">
            <div>
              <dt>Username</dt>
              <dd>{me.username}</dd>
            </div>
            <div>
              <dt>Display name</dt>
              <dd>{me.display_name || "—"}</dd>
            </div>
            <div>
              <dt>Role</dt>
              <dd>
                <RoleBadge role={me.role} />
              </dd>
            </div>
          </dl>
          <p className="muted small">An administrator can change your display name and role.</p>
        </section>
        <PasswordCard />
      </div>
      <TokensCard />
    </>
  );
}

const PASSWORD_FIELDS = ["current_password", "new_password", "confirm"] as const;

function PasswordCard() {
  const toast = useToast();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [confirm, setConfirm] = useState("");
  const [mismatch, setMismatch] = useState(false);
  const [busy, setBusy] = useState(false);
  const form = useFormErrors(PASSWORD_FIELDS);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    form.clear();
    if (next !== confirm) {
      setMismatch(true);
      return;
    }
    setMismatch(false);
    setBusy(true);
    try {
      await call(api.POST("/api/v1/auth/password", { body: { current_password: current, new_password: next } }));
      setCurrent("");
      setNext("");
      setConfirm("");
      toast.success("Password changed. Your other sessions were signed out.");
    } catch (err) {
      form.setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-labelledby="pw-title">
      <h2 id="pw-title" className="card-title">Change password</h2>
      <form className="form" onSubmit={submit} noValidate>
        <TextField label="Current password" name="current_password" type="password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} error={form.fieldError("current_password")} />
        <TextField label="New password" name="new_password" type="password" autoComplete="new-password" required hint="At least 10 characters." value={next} onChange={(e) => setNext(e.target.value)} error={form.fieldError("new_password")} />
        <TextField
          label="Repeat new password"
          name="confirm"
          type="password"
          autoComplete="new-password"
          required
          value={confirm}
          onChange={(e) => setConfirm(e.target.value)}
          error={mismatch ? "The two new passwords differ." : undefined}
        />
        <FormError message={form.formMessage} />
        <div className="form-actions">
          <button type="submit" className="btn btn-primary" disabled={busy || !current || !next || !confirm}>
            {busy ? "Changing…" : "Change password"}
          </button>
        </div>
      </form>
    </section>
  );
}

function fetchTokens({ cursor, limit }: CursorQuery<Record<string, never>>) {
  return call(api.GET("/api/v1/tokens", { params: { query: { cursor, limit } } }));
}

const NO_FILTERS: Record<string, never> = {};

function tokenState(t: TokenInfo): { label: string; tone: "success" | "danger" | "warning" } {
  if (t.revoked_at) return { label: "revoked", tone: "danger" };
  if (t.expires_at && new Date(t.expires_at).getTime() <= Date.now()) return { label: "expired", tone: "warning" };
  return { label: "active", tone: "success" };
}

function TokensCard() {
  const toast = useToast();
  const list = useCursorList<TokenInfo, Record<string, never>>(fetchTokens, NO_FILTERS, 25);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const [revoking, setRevoking] = useState<TokenInfo | null>(null);

  const columns: Column<TokenInfo>[] = [
    { key: "name", header: "Name", render: (t) => <span className="strong">{t.name}</span> },
    { key: "prefix", header: "Token", render: (t) => <code className="mono">{t.prefix}…</code> },
    { key: "role", header: "Role", render: (t) => <RoleBadge role={t.role} /> },
    {
      key: "state",
      header: "Status",
      render: (t) => {
        const s = tokenState(t);
        return <Badge tone={s.tone}>{s.label}</Badge>;
      },
    },
    { key: "created", header: "Created", render: (t) => formatDateTime(t.created_at) },
    { key: "expires", header: "Expires", render: (t) => (t.expires_at ? <span title={formatDateTime(t.expires_at)}>{formatRelative(t.expires_at)}</span> : "never") },
    { key: "used", header: "Last used", render: (t) => <span title={formatDateTime(t.last_used_at)}>{formatRelative(t.last_used_at)}</span> },
    {
      key: "actions",
      header: <span className="sr-only">Actions</span>,
      className: "col-actions",
      render: (t) =>
        t.revoked_at ? null : (
          <button type="button" className="btn btn-sm btn-danger-outline" onClick={() => setRevoking(t)} aria-label={`Revoke token ${t.name}`}>
            Revoke
          </button>
        ),
    },
  ];

  return (
    <section className="card" aria-labelledby="tokens-title">
      <div className="card-head">
        <div>
          <h2 id="tokens-title" className="card-title">API tokens</h2>
          <p className="muted small">
            For scripts and CI: send <code>Authorization: Bearer gty_…</code>. A token acts with its own role, never above yours.
          </p>
        </div>
        <button type="button" className="btn btn-primary" onClick={() => setCreating(true)}>
          New token
        </button>
      </div>
      <DataTable
        label="API tokens"
        columns={columns}
        rows={list.items}
        rowKey={(t) => t.id}
        loading={list.loading}
        error={list.error}
        onRetry={list.reload}
        empty={
          <EmptyState title="No API tokens" icon="◈">
            <p>Create one to use Gantry's API from scripts.</p>
          </EmptyState>
        }
        pagination={
          list.hasNext || list.hasPrev
            ? { page: list.page, hasPrev: list.hasPrev, hasNext: list.hasNext, onPrev: list.prev, onNext: list.next, pageSize: list.pageSize }
            : undefined
        }
      />
      <CreateTokenDialog
        open={creating}
        onClose={() => setCreating(false)}
        onCreated={(t) => {
          setCreating(false);
          setCreated(t);
          list.reload();
        }}
      />
      <ShowTokenDialog token={created} onClose={() => setCreated(null)} />
      <ConfirmDialog
        open={revoking != null}
        title={`Revoke token “${revoking?.name ?? ""}”?`}
        confirmLabel="Revoke token"
        onClose={() => setRevoking(null)}
        onConfirm={async () => {
          const t = revoking!;
          await call(api.DELETE("/api/v1/tokens/{id}", { params: { path: { id: t.id } } }));
          toast.success(`Token “${t.name}” revoked`);
          list.reload();
        }}
      >
        <p>
          The token <strong>{revoking?.name}</strong> (<code>{revoking?.prefix}…</code>, role {revoking?.role}) stops working immediately.
          Scripts that use it will get 401. This cannot be undone.
        </p>
      </ConfirmDialog>
    </section>
  );
}

const TOKEN_FIELDS = ["name", "role", "expires_in_days", "expires_at"] as const;
const EXPIRY_OPTIONS = [
  { value: "30", label: "30 days" },
  { value: "90", label: "90 days" },
  { value: "365", label: "1 year" },
  { value: "730", label: "2 years" },
  { value: "", label: "Never" },
];

function CreateTokenDialog({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: (t: CreatedToken) => void }) {
  const me = useMe();
  const [name, setName] = useState("");
  const [role, setRole] = useState<Role>(me.role);
  const [days, setDays] = useState("90");
  const form = useFormErrors(TOKEN_FIELDS);
  const roleOptions = ROLES.filter((r) => hasRole(me.role, r)).map((r) => ({ value: r, label: r }));

  useEffect(() => {
    if (open) {
      setName("");
      setRole(me.role);
      setDays("90");
    }
  }, [open]);

  return (
    <FormDialog
      open={open}
      title="New API token"
      onClose={onClose}
      form={form}
      onSubmit={async () => onCreated(await call(api.POST("/api/v1/tokens", { body: { name: name.trim(), role, expires_in_days: days ? Number(days) : null } })))}
      submitLabel="Create token"
      busyLabel="Creating…"
    >
      <TextField label="Name" name="name" required placeholder="e.g. ci-deploy" hint="A label to recognize the token by." value={name} onChange={(e) => setName(e.target.value)} error={form.fieldError("name")} />
      <SelectField label="Role" name="role" value={role} onChange={(e) => setRole(e.target.value as Role)} options={roleOptions} hint="The token can never do more than your own role allows." error={form.fieldError("role")} />
      <SelectField label="Expires after" name="expires_in_days" value={days} onChange={(e) => setDays(e.target.value)} options={EXPIRY_OPTIONS} error={form.fieldError("expires_in_days") ?? form.fieldError("expires_at")} />
    </FormDialog>
  );
}

function ShowTokenDialog({ token, onClose }: { token: CreatedToken | null; onClose: () => void }) {
  const [copied, setCopied] = useState(false);
  useEffect(() => setCopied(false), [token]);

  async function copy() {
    if (!token) return;
    try {
      await navigator.clipboard.writeText(token.token);
      setCopied(true);
    } catch {
      // Clipboard API unavailable (e.g. plain http): select the text for a manual copy.
      const el = document.getElementById("new-token-value") as HTMLInputElement | null;
      el?.select();
      setCopied(false);
    }
  }

  return (
    <Dialog
      open={token != null}
      title={`Token “${token?.name ?? ""}” created`}
      onClose={onClose}
      initialFocus="[data-autofocus]"
      footer={
        <button type="button" className="btn btn-primary" onClick={onClose}>
          Done
        </button>
      }
    >
      <p className="notice notice-warning">Copy this token now. It is shown only once and cannot be retrieved later.</p>
      <div className="copy-row">
        <label htmlFor="new-token-value" className="sr-only">
          New API token
        </label>
        <input id="new-token-value" className="input mono" readOnly value={token?.token ?? ""} onFocus={(e) => e.currentTarget.select()} data-testid="new-token" />
        <button type="button" className="btn btn-secondary" onClick={copy} data-autofocus>
          {copied ? "Copied ✓" : "Copy"}
        </button>
      </div>
      <p className="muted small" aria-live="polite">
        {copied ? "Copied to the clipboard." : `Role ${token?.role ?? ""} · ${token?.expires_at ? `expires ${formatDateTime(token.expires_at)}` : "never expires"}`}
      </p>
    </Dialog>
  );
}
