import { useCallback, useEffect, useState } from "react";
import { Link, useLocation, useNavigate, useParams } from "react-router";
import { api, call, hasRole, isApiError, type Job, type Server } from "../api/client";
import { useEvents, type ServerStatusChange } from "../api/events";
import { useMe } from "../auth/AuthContext";
import { ServerStatusBadge } from "../components/Badge";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { CopyField } from "../components/CopyField";
import { PageHeader } from "../components/Layout";
import { ServerCheckProgress } from "../components/ServerCheck";
import { ServerProxy } from "../components/ServerProxy";
import { ServerTasks } from "../components/ServerTasks";
import { EmptyState, ErrorState, Loading } from "../components/States";
import { useToast } from "../components/Toasts";
import { formatDateTime, formatRelative } from "../lib/format";
import { LabelChips } from "./ServersPage";

/** The facts a check collects, in display order. */
const FACTS: { key: string; label: string; format?: (v: unknown) => string }[] = [
  { key: "os_name", label: "Operating system" },
  { key: "os_id", label: "OS id" },
  { key: "os_version", label: "OS version" },
  { key: "arch", label: "Architecture" },
  { key: "kernel", label: "Kernel" },
  { key: "init", label: "Init system" },
  { key: "disk_free_mib", label: "Free disk", format: (v) => (typeof v === "number" ? `${(v / 1024).toFixed(1)} GiB (${v} MiB)` : String(v)) },
  { key: "nginx_installed", label: "nginx", format: (v) => (v === true ? "installed" : v === false ? "not installed" : String(v)) },
  { key: "nginx_version", label: "nginx version" },
  { key: "port_80", label: "Port 80" },
  { key: "port_443", label: "Port 443" },
];

function factText(v: unknown, format?: (v: unknown) => string): string {
  if (v == null || v === "") return "—";
  if (format) return format(v);
  return typeof v === "string" ? v : JSON.stringify(v);
}

export function ServerDetailPage() {
  const { id } = useParams();
  const serverId = Number(id);
  const me = useMe();
  const canManage = hasRole(me.role, "operator");
  const isAdmin = hasRole(me.role, "admin");
  const toast = useToast();
  const navigate = useNavigate();
  const location = useLocation();
  const justGenerated = (location.state as { generated?: boolean } | null)?.generated === true;

  const [server, setServer] = useState<Server | null>(null);
  const [error, setError] = useState<unknown>(null);
  // `live`: started here, so its end is announced; otherwise the server's latest check, shown after a reload.
  const [check, setCheck] = useState<{ id: number; job?: Job; live: boolean } | null>(null);
  const [starting, setStarting] = useState(false);
  const [checkRunning, setCheckRunning] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [accepting, setAccepting] = useState(false);

  const load = useCallback(async () => {
    try {
      const loaded = await call(api.GET("/api/v1/servers/{id}", { params: { path: { id: serverId } } }));
      setServer(loaded);
      setError(null);
      const last = loaded.last_check_job_id;
      if (last != null) setCheck((prev) => prev ?? { id: last, live: false });
    } catch (e) {
      setError(e);
    }
  }, [serverId]);

  useEffect(() => {
    setServer(null);
    setCheck(null);
    void load();
  }, [load]);

  // Status changes (this page's check, a background probe, another user): re-read the server.
  useEvents("server.", (e) => {
    const p = e.payload as Partial<ServerStatusChange>;
    if (p.server_id === serverId || e.entity_id === String(serverId)) void load();
  });

  const onCheckFinished = useCallback(
    (job: Job | null) => {
      setCheckRunning(false);
      void load();
      if (job?.status === "succeeded") toast.success(`Check of “${server?.name ?? ""}” passed`);
      else if (job) toast.error(`Check of “${server?.name ?? ""}” failed${job.error ? `: ${job.error}` : ""}`);
    },
    [load, server?.name, toast],
  );

  async function startCheck() {
    setStarting(true);
    try {
      const job = await call(api.POST("/api/v1/servers/{id}/check", { params: { path: { id: serverId } } }));
      setCheck({ id: job.id, job, live: true });
      setCheckRunning(true);
    } catch (e) {
      toast.error(isApiError(e) ? e.detail : String(e));
    } finally {
      setStarting(false);
    }
  }

  if (!server) {
    return (
      <>
        <PageHeader title="Server" />
        <div className="card">{error ? <ErrorState error={error} onRetry={() => void load()} title="Could not load the server" /> : <Loading label="Loading server…" />}</div>
      </>
    );
  }

  const s = server;
  const facts = (s.facts ?? null) as Record<string, unknown> | null;
  const pending = s.host_key.pending;
  const params = Object.entries(s.parameters as Record<string, unknown>);

  return (
    <>
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/servers">Servers</Link>
        <span aria-hidden="true"> / </span>
        <span aria-current="page">{s.name}</span>
      </nav>
      <PageHeader
        title={s.name}
        description={
          <>
            <span className="mono">
              {s.ssh_user}@{s.address}
              {s.port !== 22 ? `:${s.port}` : ""}
            </span>
            {s.description ? ` · ${s.description}` : ""}
          </>
        }
        actions={
          <>
            {isAdmin && pending ? (
              <button type="button" className="btn btn-danger-outline" onClick={() => setAccepting(true)}>
                Accept new host key
              </button>
            ) : null}
            {canManage ? (
              <>
                <button type="button" className="btn btn-primary" onClick={startCheck} disabled={starting || checkRunning}>
                  {starting || checkRunning ? "Checking…" : "Check now"}
                </button>
                <Link to={`/servers/${s.id}/edit`} className="btn btn-secondary">
                  Edit
                </Link>
                <button type="button" className="btn btn-danger-outline" onClick={() => setDeleting(true)}>
                  Delete
                </button>
              </>
            ) : null}
          </>
        }
      />

      {s.status === "host_key_changed" || pending ? (
        <div className="notice notice-warning" role="alert">
          The server presented a different host key. Gantry refuses to operate on it until an admin compares the new fingerprint on the
          server and accepts it.
          {!isAdmin ? " Ask an admin." : ""}
        </div>
      ) : null}

      {s.authorize_command && (justGenerated || s.status === "unknown" || s.status === "auth_failed") ? (
        <section className="card card-highlight" aria-labelledby="sd-authorize">
          <h2 className="card-title" id="sd-authorize">
            Authorize Gantry's key on the server
          </h2>
          <p>
            Gantry generated a key pair for this server. Run this command on <strong>{s.address}</strong> as <strong>{s.ssh_user}</strong>{" "}
            (or add the public key to <code>~/.ssh/authorized_keys</code>), then check the server.
          </p>
          <CopyField label="Authorize command" value={s.authorize_command} multiline testId="authorize-command" />
          <CopyField label="Public key" value={s.credentials.public_key} multiline testId="public-key" />
        </section>
      ) : null}

      <div className="grid grid-2">
        <section className="card" aria-labelledby="sd-status">
          <h2 className="card-title" id="sd-status">
            Status
          </h2>
          <div className="status-line" data-testid="server-status">
            <ServerStatusBadge status={s.status} />
            {s.status_message ? <span className="status-message">{s.status_message}</span> : null}
          </div>
          <dl className="facts facts-2">
            <div>
              <dt>Last seen</dt>
              <dd title={formatDateTime(s.last_seen_at)}>{formatRelative(s.last_seen_at)}</dd>
            </div>
            <div>
              <dt>Last checked</dt>
              <dd title={formatDateTime(s.last_checked_at)}>{formatRelative(s.last_checked_at)}</dd>
            </div>
          </dl>
          <h3 className="section-title">Check</h3>
          {check ? (
            <ServerCheckProgress
              key={check.id}
              jobId={check.id}
              initial={check.job ?? null}
              onFinished={check.live ? onCheckFinished : undefined}
            />
          ) : (
            <p className="muted">
              A check connects step by step (address, port, SSH handshake, host key, login, root access) and collects facts.
              {canManage ? " Use “Check now” to run one." : ""}
            </p>
          )}
        </section>

        <section className="card" aria-labelledby="sd-access">
          <h2 className="card-title" id="sd-access">
            Access
          </h2>
          <dl className="facts facts-2">
            <div>
              <dt>SSH user</dt>
              <dd className="mono">{s.ssh_user}</dd>
            </div>
            <div>
              <dt>Privilege</dt>
              <dd>{s.privilege === "root" ? "root" : "sudo (passwordless)"}</dd>
            </div>
            <div>
              <dt>Key type</dt>
              <dd className="mono">
                {s.credentials.type}
                {s.credentials.generated ? <span className="muted small"> · generated by Gantry</span> : null}
              </dd>
            </div>
            <div>
              <dt>Key fingerprint</dt>
              <dd className="mono break">{s.credentials.fingerprint}</dd>
            </div>
            <div>
              <dt>Pinned host key</dt>
              <dd className="mono break" data-testid="host-key-pinned">
                {s.host_key.pinned ?? <span className="muted">not pinned yet (the first successful check pins it)</span>}
              </dd>
            </div>
            {pending ? (
              <div>
                <dt>Pending host key</dt>
                <dd className="mono break">{pending}</dd>
              </div>
            ) : null}
          </dl>
          {s.authorize_command && !(justGenerated || s.status === "unknown" || s.status === "auth_failed") ? (
            <details className="disclosure">
              <summary>Public key and authorize command</summary>
              <CopyField label="Authorize command" value={s.authorize_command} multiline />
              <CopyField label="Public key" value={s.credentials.public_key} multiline />
            </details>
          ) : null}
        </section>
      </div>

      <ServerTasks serverId={s.id} serverName={s.name} />

      <ServerProxy serverId={s.id} serverName={s.name} />

      <section className="card" aria-labelledby="sd-facts">
        <h2 className="card-title" id="sd-facts">
          Facts
        </h2>
        {facts ? (
          <dl className="facts" data-testid="server-facts">
            {FACTS.map((f) => (
              <div key={f.key}>
                <dt>{f.label}</dt>
                <dd>{factText(facts[f.key], f.format)}</dd>
              </div>
            ))}
          </dl>
        ) : (
          <EmptyState title="No facts yet" icon="◇">
            <p>Facts (OS, architecture, disk, nginx, ports) are collected by the first successful check.</p>
          </EmptyState>
        )}
      </section>

      <section className="card" aria-labelledby="sd-config">
        <h2 className="card-title" id="sd-config">
          Labels and parameters
        </h2>
        <dl className="facts facts-2">
          <div>
            <dt>Labels</dt>
            <dd>
              <LabelChips labels={s.labels} />
            </dd>
          </div>
          <div>
            <dt>Parameters</dt>
            <dd>
              {params.length === 0 ? (
                <span className="muted">defaults</span>
              ) : (
                <ul className="chip-list chip-list-tight" aria-label="Parameters">
                  {params.map(([k, v]) => (
                    <li key={k} className="chip mono">
                      {k}={typeof v === "string" ? v : JSON.stringify(v)}
                    </li>
                  ))}
                </ul>
              )}
            </dd>
          </div>
          <div>
            <dt>Created</dt>
            <dd>{formatDateTime(s.created_at)}</dd>
          </div>
          <div>
            <dt>Updated</dt>
            <dd>
              {formatDateTime(s.updated_at)} <span className="muted small">(version {s.version})</span>
            </dd>
          </div>
        </dl>
      </section>

      <ConfirmDialog
        open={deleting}
        title={`Delete server “${s.name}”?`}
        confirmLabel="Delete server"
        option={{
          name: "force",
          label: "Also detach anything that depends on it",
          hint: "Without this, the delete is refused while something still uses the server.",
        }}
        onClose={() => setDeleting(false)}
        onConfirm={async (force) => {
          const res = await call(api.DELETE("/api/v1/servers/{id}", { params: { path: { id: s.id }, query: force ? { force: true } : {} } }));
          toast.success(
            res.detached.length > 0 ? `Server “${s.name}” deleted; detached: ${res.detached.join(", ")}` : `Server “${s.name}” deleted`,
          );
          navigate("/servers");
        }}
      >
        <p>
          <strong>{s.name}</strong> ({s.address}) is removed from Gantry together with its stored key. Nothing on the server itself is
          changed. This cannot be undone.
        </p>
      </ConfirmDialog>

      <ConfirmDialog
        open={accepting}
        title={`Accept the new host key of “${s.name}”?`}
        confirmLabel="Accept new host key"
        onClose={() => setAccepting(false)}
        onConfirm={async () => {
          if (!pending) return;
          await call(api.POST("/api/v1/servers/{id}/host-key/accept", { params: { path: { id: s.id } }, body: { fingerprint: pending } }));
          toast.success(`New host key of “${s.name}” accepted`);
          void load();
        }}
      >
        <p>
          Only accept if you know why the key changed (reinstall, new server). A changed key can also mean someone is intercepting the
          connection.
        </p>
        <dl className="facts facts-stacked">
          <div>
            <dt>Pinned (old)</dt>
            <dd className="mono break">{s.host_key.pinned ?? "—"}</dd>
          </div>
          <div>
            <dt>Presented (new)</dt>
            <dd className="mono break">{pending}</dd>
          </div>
        </dl>
        <p>
          Compare the new fingerprint with the output of <code>ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub</code> run on the server
          itself (console or another trusted path).
        </p>
      </ConfirmDialog>
    </>
  );
}
