// Helpers of the server form: key/value rows (labels, parameters) ⇄ the
// API's objects, and which API field an error belongs to.
import type { Server, ServerRequest } from "../api/client";

export interface KvRow {
  /** Stable React key for the row. */
  id: number;
  key: string;
  value: string;
}

let nextRowId = 1;
export function newRow(key = "", value = ""): KvRow {
  return { id: nextRowId++, key, value };
}

/** Rows from an object (`{env: "prod"}`); values shown as text. */
export function rowsFrom(obj: Record<string, unknown> | null | undefined): KvRow[] {
  return Object.entries(obj ?? {}).map(([k, v]) => newRow(k, typeof v === "string" ? v : JSON.stringify(v)));
}

/** Labels object from rows; fully empty rows are ignored, keys are trimmed. */
export function labelsFrom(rows: readonly KvRow[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of rows) {
    if (!r.key.trim() && !r.value.trim()) continue;
    out[r.key.trim()] = r.value;
  }
  return out;
}

/**
 * Parameters object from rows: whole numbers become numbers (the timeouts
 * and ports are integers), `true`/`false` booleans, everything else stays
 * text. The API validates each one.
 */
export function parametersFrom(rows: readonly KvRow[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const r of rows) {
    if (!r.key.trim() && !r.value.trim()) continue;
    const v = r.value.trim();
    out[r.key.trim()] = /^-?\d+$/.test(v) ? Number(v) : v === "true" ? true : v === "false" ? false : v;
  }
  return out;
}

/** The parameter behind the form's "install the reverse proxy automatically" checkbox. */
export const AUTO_INSTALL = "proxy_auto_install";

/** All parameters: the rows plus the checkbox (set only when checked). */
export function allParameters(v: Pick<ServerFormValues, "parameters" | "proxy_auto_install">): Record<string, unknown> {
  const out = parametersFrom(v.parameters.filter((r) => r.key.trim() !== AUTO_INSTALL));
  if (v.proxy_auto_install) out[AUTO_INSTALL] = true;
  return out;
}

/** The API field name of a row's error: `labels.env`, `parameters.connect_timeout_seconds`. */
export function rowField(group: "labels" | "parameters", row: KvRow): string {
  return `${group}.${row.key.trim()}`;
}

/** The parameters the API knows, with what each one is (for hints and suggestions). */
export const KNOWN_PARAMETERS: { key: string; hint: string }[] = [
  { key: "nginx_conf_dir", hint: "absolute path of the nginx configuration directory (default /etc/nginx)" },
  { key: "proxy_listen_address", hint: "IP address the reverse proxy listens on (default: all)" },
  { key: "connect_timeout_seconds", hint: "SSH connect timeout in seconds, 1–60 (default 5)" },
  { key: "command_timeout_seconds", hint: "remote command timeout in seconds, 1–3600 (default 60)" },
  { key: "proxy_status_port", hint: "port of the proxy's loopback status server, 1024–65535 (default 8089)" },
];

export type CredentialsMode = "keep" | "paste" | "generate";

/** What the form holds (private key and passphrase only until submitted). */
export interface ServerFormValues {
  name: string;
  address: string;
  port: string;
  ssh_user: string;
  /** "" = let the API choose (root for root, sudo otherwise). */
  privilege: "" | "root" | "sudo";
  description: string;
  labels: KvRow[];
  parameters: KvRow[];
  /** Parameter `proxy_auto_install`: install the reverse proxy once the server is reachable. */
  proxy_auto_install: boolean;
  credentials: CredentialsMode;
  private_key: string;
  passphrase: string;
  host_key: string;
}

export function emptyForm(): ServerFormValues {
  return {
    name: "",
    address: "",
    port: "22",
    ssh_user: "root",
    privilege: "",
    description: "",
    labels: [newRow()],
    parameters: [],
    proxy_auto_install: false,
    credentials: "paste",
    private_key: "",
    passphrase: "",
    host_key: "",
  };
}

export function formFromServer(s: Server): ServerFormValues {
  return {
    name: s.name,
    address: s.address,
    port: String(s.port),
    ssh_user: s.ssh_user,
    privilege: s.privilege,
    description: s.description,
    labels: rowsFrom(s.labels),
    parameters: rowsFrom(s.parameters as Record<string, unknown>).filter((r) => r.key !== AUTO_INSTALL),
    proxy_auto_install: (s.parameters as Record<string, unknown>)[AUTO_INSTALL] === true,
    credentials: "keep",
    private_key: "",
    passphrase: "",
    host_key: "",
  };
}

function portValue(port: string): number | null {
  const t = port.trim();
  if (!t) return null;
  // Anything not a whole number goes to the API as is, so its message shows on the field.
  return /^\d+$/.test(t) ? Number(t) : (t as unknown as number);
}

function credentialsBody(v: ServerFormValues): ServerRequest["credentials"] | undefined {
  if (v.credentials === "generate") return { generate: true };
  if (v.credentials === "paste") return { private_key: v.private_key, passphrase: v.passphrase || null };
  return undefined;
}

/** Body of POST /api/v1/servers. */
export function createBody(v: ServerFormValues): ServerRequest {
  const body: ServerRequest = {
    name: v.name.trim(),
    address: v.address.trim(),
    port: portValue(v.port),
    ssh_user: v.ssh_user.trim() || null,
    privilege: v.privilege || null,
    description: v.description,
    labels: labelsFrom(v.labels),
    parameters: allParameters(v) as ServerRequest["parameters"],
    credentials: credentialsBody(v),
  };
  if (v.host_key.trim()) body.host_key = v.host_key.trim();
  return body;
}

/** Body of PATCH /api/v1/servers/{id}: only what changed. */
export function patchBody(v: ServerFormValues, s: Server): ServerRequest {
  const body: ServerRequest = {};
  if (v.name.trim() !== s.name) body.name = v.name.trim();
  if (v.address.trim() !== s.address) body.address = v.address.trim();
  if (v.port.trim() !== String(s.port)) body.port = portValue(v.port);
  if (v.ssh_user.trim() !== s.ssh_user) body.ssh_user = v.ssh_user.trim();
  if (v.privilege && v.privilege !== s.privilege) body.privilege = v.privilege;
  if (v.description !== s.description) body.description = v.description;
  const labels = labelsFrom(v.labels);
  if (canon(labels) !== canon(s.labels)) body.labels = labels;
  const params = allParameters(v);
  if (canon(params) !== canon(s.parameters as Record<string, unknown>)) body.parameters = params as ServerRequest["parameters"];
  const creds = credentialsBody(v);
  if (creds) body.credentials = creds;
  if (v.host_key.trim()) body.host_key = v.host_key.trim();
  return body;
}

/** Order-independent form of an object, to tell whether the user changed it. */
function canon(o: Record<string, unknown> | null | undefined): string {
  return JSON.stringify(Object.entries(o ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
