import { useCallback, useEffect, useState } from "react";
import { api, call, callRaw, ifMatch, isApiError, ROLES, type Role, type User } from "../api/client";
import { useEvents } from "../api/events";
import { useMe } from "../auth/AuthContext";
import { Badge, RoleBadge } from "../components/Badge";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { ConflictDialog } from "../components/ConflictDialog";
import { DataTable, listPagination, type Column, type SortState } from "../components/DataTable";
import { SelectField, TextField, useFormErrors } from "../components/Form";
import { FormDialog } from "../components/FormDialog";
import { PageHeader } from "../components/Layout";
import { EmptyState, ErrorState, Loading } from "../components/States";
import { useToast } from "../components/Toasts";
import { formatDateTime, formatRelative } from "../lib/format";
import { useCursorList, type CursorQuery } from "../lib/useCursorList";
import { useDebounced } from "../lib/useDebounced";
import { useUrlFilters } from "../lib/useUrlFilters";

const FILTERS = ["q", "role", "status", "sort"] as const;
type UserFilters = { q: string; role: string; status: string; sort: string };

/** `?sort=` value (`username`, `-created_at`) ⇄ DataTable sort state. */
function parseSort(v: string): SortState | null {
  if (!v) return null;
  return v.startsWith("-") ? { key: v.slice(1), dir: "desc" } : { key: v, dir: "asc" };
}

const ROLE_OPTIONS = ROLES.map((r) => ({ value: r, label: r }));

function fetchUsers({ filters, cursor, limit }: CursorQuery<UserFilters>) {
  return call(
    api.GET("/api/v1/users", {
      params: {
        query: {
          q: filters.q || undefined,
          role: (filters.role || undefined) as Role | undefined,
          disabled: filters.status === "disabled" ? true : filters.status === "enabled" ? false : undefined,
          sort: filters.sort || undefined,
          cursor,
          limit,
        },
      },
    }),
  );
}

export function UsersPage() {
  const me = useMe();
  const toast = useToast();
  const [f, setF] = useUrlFilters(FILTERS);
  const q = useDebounced(f.q.trim());
  const list = useCursorList<User, UserFilters>(fetchUsers, { q, role: f.role, status: f.status, sort: f.sort }, 25);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<User | null>(null);
  const [toggling, setToggling] = useState<User | null>(null);
  const [conflict, setConflict] = useState<User | null>(null);

  // Another admin changed a user: refresh the page of users.
  useEvents("user.", () => list.reload());

  const columns: Column<User>[] = [
    {
      key: "username",
      header: "User",
      sortable: true,
      render: (u) => (
        <div className="cell-user">
          <span className="avatar avatar-sm" aria-hidden="true">{(u.display_name || u.username).slice(0, 1).toUpperCase()}</span>
          <div>
            <div className="strong">{u.username}</div>
            <div className="muted small">{u.display_name || "—"}</div>
          </div>
        </div>
      ),
    },
    { key: "role", header: "Role", sortable: true, render: (u) => <RoleBadge role={u.role} /> },
    { key: "status", header: "Status", render: (u) => (u.disabled ? <Badge tone="danger">disabled</Badge> : <Badge tone="success">enabled</Badge>) },
    { key: "last_login", header: "Last sign-in", render: (u) => <span title={formatDateTime(u.last_login_at)}>{formatRelative(u.last_login_at)}</span> },
    { key: "created_at", header: "Created", sortable: true, render: (u) => formatDateTime(u.created_at) },
    {
      key: "actions",
      header: <span className="sr-only">Actions</span>,
      className: "col-actions",
      render: (u) => (
        <div className="row-actions">
          <button type="button" className="btn btn-secondary btn-sm" onClick={() => setEditing(u)} aria-label={`Edit ${u.username}`}>
            Edit
          </button>
          <button
            type="button"
            className={`btn btn-sm ${u.disabled ? "btn-secondary" : "btn-danger-outline"}`}
            onClick={() => setToggling(u)}
            disabled={u.id === me.id && !u.disabled}
            title={u.id === me.id && !u.disabled ? "You cannot disable yourself" : undefined}
            aria-label={`${u.disabled ? "Enable" : "Disable"} ${u.username}`}
          >
            {u.disabled ? "Enable" : "Disable"}
          </button>
        </div>
      ),
    },
  ];

  const filtered = Boolean(f.q || f.role || f.status);
  return (
    <>
      <PageHeader
        title="Users"
        description="People who can sign in to Gantry, and what they may do."
        actions={
          <button type="button" className="btn btn-primary" onClick={() => setCreating(true)}>
            New user
          </button>
        }
      />
      <div className="card">
        <form className="filters" role="search" aria-label="Filter users" onSubmit={(e) => e.preventDefault()}>
          <TextField label="Search" name="q" type="search" placeholder="Username or display name" value={f.q} onChange={(e) => setF({ q: e.target.value })} />
          <SelectField label="Role" name="role" value={f.role} onChange={(e) => setF({ role: e.target.value })} options={[{ value: "", label: "Any role" }, ...ROLE_OPTIONS]} />
          <SelectField
            label="Status"
            name="status"
            value={f.status}
            onChange={(e) => setF({ status: e.target.value })}
            options={[
              { value: "", label: "Any status" },
              { value: "enabled", label: "Enabled" },
              { value: "disabled", label: "Disabled" },
            ]}
          />
          {filtered ? (
            <button type="button" className="btn btn-ghost filters-clear" onClick={() => setF({ q: "", role: "", status: "" })}>
              Clear filters
            </button>
          ) : null}
        </form>
        <DataTable
          label="Users"
          columns={columns}
          rows={list.items}
          rowKey={(u) => u.id}
          sort={parseSort(f.sort)}
          onSortChange={(srt) => setF({ sort: srt.dir === "desc" ? `-${srt.key}` : srt.key })}
          loading={list.loading}
          error={list.error}
          onRetry={list.reload}
          empty={filtered ? <EmptyState title="No users match these filters" /> : <EmptyState title="No users" />}
          pagination={listPagination(list)}
        />
      </div>

      <CreateUserDialog
        open={creating}
        onClose={() => setCreating(false)}
        onCreated={(u) => {
          setCreating(false);
          toast.success(`User “${u.username}” created`);
          list.reload();
        }}
      />
      <EditUserDialog
        user={editing}
        onClose={() => setEditing(null)}
        onSaved={(u) => {
          setEditing(null);
          toast.success(`User “${u.username}” saved`);
          list.updateItem((x) => x.id === u.id, () => u);
        }}
      />
      <ConfirmDialog
        open={toggling != null}
        title={toggling?.disabled ? `Enable user “${toggling?.username}”?` : `Disable user “${toggling?.username}”?`}
        confirmLabel={toggling?.disabled ? "Enable user" : "Disable user"}
        danger={!toggling?.disabled}
        onClose={() => setToggling(null)}
        onConfirm={async () => {
          const u = toggling!;
          try {
            const saved = await call(
              api.PATCH("/api/v1/users/{id}", {
                params: { path: { id: u.id }, header: { "If-Match": ifMatch(u.version) } },
                body: { disabled: !u.disabled },
              }),
            );
            toast.success(`User “${saved.username}” ${saved.disabled ? "disabled" : "enabled"}`);
            list.updateItem((x) => x.id === saved.id, () => saved);
          } catch (e) {
            if (isApiError(e) && e.code === "stale") {
              setConflict(u);
              return;
            }
            throw e;
          }
        }}
      >
        {toggling?.disabled ? (
          <p>
            <strong>{toggling.username}</strong> ({toggling.display_name || "no display name"}) will be able to sign in again. Their
            API tokens that have not expired or been revoked work again.
          </p>
        ) : (
          <p>
            <strong>{toggling?.username}</strong> ({toggling?.display_name || "no display name"}) will be signed out everywhere, cannot
            sign in, and all of their API tokens stop working. The account and its audit history are kept; you can enable it again.
          </p>
        )}
      </ConfirmDialog>
      <ConflictDialog
        open={conflict != null}
        what={`user “${conflict?.username}”`}
        onClose={() => setConflict(null)}
        onReload={() => {
          setConflict(null);
          list.reload();
        }}
      />
    </>
  );
}

const CREATE_FIELDS = ["username", "display_name", "role", "password"] as const;

function CreateUserDialog({ open, onClose, onCreated }: { open: boolean; onClose: () => void; onCreated: (u: User) => void }) {
  const [username, setUsername] = useState("");
  const [displayName, setDisplayName] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [password, setPassword] = useState("");
  const form = useFormErrors(CREATE_FIELDS);

  useEffect(() => {
    if (open) {
      setUsername("");
      setDisplayName("");
      setRole("viewer");
      setPassword("");
    }
  }, [open]);

  return (
    <FormDialog
      open={open}
      title="New user"
      onClose={onClose}
      form={form}
      onSubmit={async () =>
        onCreated(await call(api.POST("/api/v1/users", { body: { username: username.trim(), display_name: displayName.trim() || null, role, password } })))
      }
      submitLabel="Create user"
      busyLabel="Creating…"
    >
      <TextField label="Username" name="username" required autoComplete="off" hint="1–64 of a–z, 0–9, “.”, “_” and “-”." value={username} onChange={(e) => setUsername(e.target.value)} error={form.fieldError("username")} />
      <TextField label="Display name" name="display_name" autoComplete="off" value={displayName} onChange={(e) => setDisplayName(e.target.value)} error={form.fieldError("display_name")} />
      <SelectField label="Role" name="role" required value={role} onChange={(e) => setRole(e.target.value as Role)} options={ROLE_OPTIONS} error={form.fieldError("role")} hint="viewer: read only · operator: change infrastructure · admin: everything, including users and audit." />
      <TextField label="Initial password" name="password" type="password" required autoComplete="new-password" hint="At least 10 characters. Share it securely; the user can change it." value={password} onChange={(e) => setPassword(e.target.value)} error={form.fieldError("password")} />
    </FormDialog>
  );
}

const EDIT_FIELDS = ["display_name", "role", "password", "disabled"] as const;

function EditUserDialog({ user, onClose, onSaved }: { user: User | null; onClose: () => void; onSaved: (u: User) => void }) {
  const [current, setCurrent] = useState<{ user: User; etag: string } | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [displayName, setDisplayName] = useState("");
  const [role, setRole] = useState<Role>("viewer");
  const [password, setPassword] = useState("");
  const [conflict, setConflict] = useState(false);
  const form = useFormErrors(EDIT_FIELDS);

  // Read the user fresh: its ETag is what If-Match sends on save.
  const load = useCallback(async (id: number) => {
    setLoadError(null);
    try {
      const { data, response } = await callRaw(api.GET("/api/v1/users/{id}", { params: { path: { id } } }));
      setCurrent({ user: data, etag: response.headers.get("etag") ?? ifMatch(data.version) });
      setDisplayName(data.display_name);
      setRole(data.role);
      setPassword("");
    } catch (e) {
      setLoadError(e);
    }
  }, []);

  useEffect(() => {
    setCurrent(null);
    if (user) void load(user.id);
  }, [user, load]);

  async function save() {
    if (!current) return;
    const body: { display_name?: string; role?: Role; password?: string } = {};
    if (displayName.trim() !== current.user.display_name) body.display_name = displayName.trim();
    if (role !== current.user.role) body.role = role;
    if (password) body.password = password;
    try {
      onSaved(await call(api.PATCH("/api/v1/users/{id}", { params: { path: { id: current.user.id }, header: { "If-Match": current.etag } }, body })));
    } catch (err) {
      if (isApiError(err) && err.code === "stale") setConflict(true);
      else throw err;
    }
  }

  return (
    <>
      <FormDialog
        open={user != null}
        title={`Edit user “${user?.username ?? ""}”`}
        onClose={onClose}
        form={form}
        onSubmit={save}
        submitLabel="Save changes"
        busyLabel="Saving…"
        canSubmit={current != null}
      >
        {current ? (
          <>
            <p className="muted small">
              Version {current.user.version} · last changed {formatDateTime(current.user.updated_at)}
            </p>
            <TextField label="Display name" name="display_name" value={displayName} onChange={(e) => setDisplayName(e.target.value)} error={form.fieldError("display_name")} />
            <SelectField label="Role" name="role" value={role} onChange={(e) => setRole(e.target.value as Role)} options={ROLE_OPTIONS} error={form.fieldError("role")} />
            <TextField
              label="Reset password"
              name="password"
              type="password"
              autoComplete="new-password"
              hint="Leave empty to keep the current password. Setting one signs the user out everywhere."
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              error={form.fieldError("password")}
            />
          </>
        ) : loadError ? (
          <ErrorState error={loadError} onRetry={() => user && void load(user.id)} />
        ) : (
          <Loading />
        )}
      </FormDialog>
      <ConflictDialog
        open={conflict}
        what={`user “${user?.username ?? ""}”`}
        onClose={() => setConflict(false)}
        onReload={() => {
          setConflict(false);
          setCurrent(null); // show loading, then the latest version
          if (user) void load(user.id);
        }}
      />
    </>
  );
}
