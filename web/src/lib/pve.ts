// Pure logic of the Proxmox pages: the cluster and blueprint forms both ways,
// the users list of the deploy wizard, and the state words of deployments,
// stands and VMs (tone, "still moving").
import type { Blueprint, ClusterInput, CloneMode, DeploymentView, PveCluster, Strategy, VmSpec } from "../api/pve";

// ---- clusters ----

export type ClusterAuth = "token" | "password";
export type ClusterTrust = "fingerprint" | "ca";

export interface ClusterForm {
  name: string;
  /** One endpoint per line. */
  endpoints: string;
  auth: ClusterAuth;
  token_id: string;
  username: string;
  /** Empty on edit: keep the stored one. */
  secret: string;
  trust: ClusterTrust;
  fingerprint: string;
  ca_pem: string;
  vmid_first: string;
  vmid_last: string;
}

export const EMPTY_CLUSTER_FORM: ClusterForm = {
  name: "",
  endpoints: "",
  auth: "token",
  token_id: "",
  username: "",
  secret: "",
  trust: "fingerprint",
  fingerprint: "",
  ca_pem: "",
  vmid_first: "",
  vmid_last: "",
};

/** The API's field names the cluster form shows (`endpoints[1]` shows under the endpoints). */
export const CLUSTER_FIELDS = ["name", "endpoints", "endpoints[", "token_id", "username", "secret", "fingerprint", "ca_pem", "vmid_first", "vmid_last"] as const;

/**
 * Splits a full API token as Proxmox shows it once (`root@pam!gantry=SECRET`)
 * at the first `=` after the `!`: the token id and its secret. Null when the
 * text is not such a token.
 */
export function splitToken(text: string): { tokenId: string; secret: string } | null {
  const t = text.trim();
  const bang = t.indexOf("!");
  if (bang < 0) return null;
  const eq = t.indexOf("=", bang);
  if (eq < 0) return null;
  const tokenId = t.slice(0, eq).trim();
  const secret = t.slice(eq + 1).trim();
  return tokenId && secret ? { tokenId, secret } : null;
}

export function clusterToForm(c: PveCluster): ClusterForm {
  return {
    ...EMPTY_CLUSTER_FORM,
    name: c.name,
    endpoints: c.endpoints.join("\n"),
    auth: c.auth === "password" ? "password" : "token",
    token_id: c.auth === "password" ? "" : c.auth_id,
    username: c.auth === "password" ? c.auth_id : "",
    trust: c.fingerprint || !c.has_ca ? "fingerprint" : "ca",
    fingerprint: c.fingerprint ?? "",
    vmid_first: String(c.vmid_range.first),
    vmid_last: String(c.vmid_range.last),
  };
}

function optNumber(s: string): number | null {
  const t = s.trim();
  if (!t) return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : null;
}

function optText(s: string): string | null {
  const t = s.trim();
  return t ? t : null;
}

/**
 * The request body. Only the chosen auth and trust fields are sent. An empty
 * secret is left out (on edit the API keeps the stored one; on create it
 * names the field). An empty CA on edit keeps nothing: the CA must be pasted
 * again to switch to it.
 */
export function clusterBody(f: ClusterForm): ClusterInput {
  return {
    name: f.name.trim(),
    endpoints: f.endpoints
      .split(/\r?\n/)
      .map((e) => e.trim())
      .filter(Boolean),
    token_id: f.auth === "token" ? f.token_id.trim() : null,
    username: f.auth === "password" ? f.username.trim() : null,
    ...(f.secret ? { secret: f.secret } : {}),
    fingerprint: f.trust === "fingerprint" ? optText(f.fingerprint) : null,
    ca_pem: f.trust === "ca" ? optText(f.ca_pem) : null,
    vmid_first: optNumber(f.vmid_first),
    vmid_last: optNumber(f.vmid_last),
  };
}

/** The endpoints field's message: its own and each line's (`endpoints[1]` → "line 2: …"). */
export function endpointsError(errors: readonly { field: string; message: string }[]): string | undefined {
  const msgs: string[] = [];
  for (const e of errors) {
    if (e.field === "endpoints") msgs.push(e.message);
    const m = /^endpoints\[(\d+)\]$/.exec(e.field);
    if (m) msgs.push(`line ${Number(m[1]) + 1}: ${e.message}`);
  }
  return msgs.length ? msgs.join("; ") : undefined;
}

// ---- blueprints ----

export interface VmRow {
  /** Local row id (React key). */
  id: number;
  key: string;
  template: string;
  name: string;
  cores: string;
  memory_mib: string;
  /** Comma-separated aliases (`hq.100, lab`). */
  networks: string;
  clone: CloneMode;
  storage: string;
  start: boolean;
  /** Kept as they were: the form does not edit disks. */
  disks: VmSpec["disks"];
}

export interface BlueprintForm {
  name: string;
  description: string;
  strategy: Strategy;
  role: string;
  create_users: boolean;
  vms: VmRow[];
}

export const BLUEPRINT_FIELDS = ["name", "description", "strategy", "role", "create_users", "vms", "vms["] as const;

let nextRowId = 1;
export function vmRow(over: Partial<VmRow> = {}): VmRow {
  return { id: nextRowId++, key: "", template: "", name: "", cores: "", memory_mib: "", networks: "", clone: "linked", storage: "", start: true, disks: [], ...over };
}

export function emptyBlueprintForm(): BlueprintForm {
  return { name: "", description: "", strategy: "balanced", role: "", create_users: true, vms: [vmRow()] };
}

export function blueprintToForm(b: Blueprint): BlueprintForm {
  return {
    name: b.name,
    description: b.description ?? "",
    strategy: b.strategy ?? "balanced",
    role: b.role ?? "",
    create_users: b.create_users ?? true,
    vms: b.vms.map((v) =>
      vmRow({
        key: v.key,
        template: v.template,
        name: v.name ?? "",
        cores: v.cores != null ? String(v.cores) : "",
        memory_mib: v.memory_mib != null ? String(v.memory_mib) : "",
        networks: (v.networks ?? []).join(", "),
        clone: v.clone ?? "linked",
        storage: v.storage ?? "",
        start: v.start ?? false,
        disks: v.disks ?? [],
      }),
    ),
  };
}

/** `"hq.100, lab,"` → `["hq.100", "lab"]`. */
export function parseNetworks(s: string): string[] {
  return s
    .split(",")
    .map((n) => n.trim())
    .filter(Boolean);
}

/** The blueprint to send; empty optional fields are left out so the API's defaults apply. */
export function formToBlueprint(f: BlueprintForm): Blueprint {
  return {
    name: f.name.trim(),
    description: f.description,
    strategy: f.strategy,
    ...(f.role.trim() ? { role: f.role.trim() } : {}),
    create_users: f.create_users,
    vms: f.vms.map((r) => {
      const vm: VmSpec = { key: r.key.trim(), template: r.template.trim(), networks: parseNetworks(r.networks), clone: r.clone, start: r.start };
      if (r.name.trim()) vm.name = r.name.trim();
      const cores = optNumber(r.cores);
      if (cores != null) vm.cores = cores;
      const mem = optNumber(r.memory_mib);
      if (mem != null) vm.memory_mib = mem;
      if (r.storage.trim()) vm.storage = r.storage.trim();
      if (r.disks && r.disks.length) vm.disks = r.disks;
      return vm;
    }),
  };
}

// ---- deploy wizard ----

/** One user per line (`student1@pve`); blank lines and `#` comments are skipped. */
export function parseUsers(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.replace(/#.*$/, "").trim())
    .filter(Boolean);
}

// ---- states ----

export type Tone = "neutral" | "info" | "success" | "warning" | "danger" | "accent";

/** Deployment states that are still moving (a job works on them). */
export const ACTIVE_DEPLOYMENT = new Set(["queued", "running", "cleaning"]);

export function isActive(d: Pick<DeploymentView, "status">): boolean {
  return ACTIVE_DEPLOYMENT.has(d.status);
}

const TONES: Record<string, Tone> = {
  // deployments
  queued: "neutral",
  running: "info",
  done: "success",
  partial: "warning",
  failed: "danger",
  cleaning: "info",
  cleaned: "neutral",
  // stands
  pending: "neutral",
  deploying: "info",
  ready: "success",
  removed: "neutral",
  // VMs
  planned: "neutral",
  cloning: "info",
  cloned: "info",
  configured: "info",
  destroyed: "neutral",
};

export function statusTone(status: string): Tone {
  return TONES[status] ?? "neutral";
}

/** A state that is in progress (shown with a pulse). */
export function isMoving(status: string): boolean {
  return ["running", "cleaning", "deploying", "cloning", "cloned", "configured"].includes(status);
}

/** "2 ready · 1 failed": the deployment's VM counts, most advanced first. */
export function countsSummary(counts: Record<string, number>): { status: string; n: number }[] {
  const order = ["ready", "configured", "cloned", "cloning", "planned", "failed", "destroyed"];
  return Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => {
      const ia = order.indexOf(a);
      const ib = order.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
    })
    .map(([status, n]) => ({ status, n }));
}

/** Share of a deployment's VMs that reached their goal (ready; destroyed while cleaning), 0–100. */
export function vmProgress(d: DeploymentView): number {
  const vms = d.stands.flatMap((s) => s.vms);
  if (vms.length === 0) return 0;
  const goal = d.status === "cleaning" || d.status === "cleaned" ? "destroyed" : "ready";
  return Math.round((vms.filter((v) => v.status === goal).length * 100) / vms.length);
}

/** Fractions (0–1 and beyond) as a percentage. */
export function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}
