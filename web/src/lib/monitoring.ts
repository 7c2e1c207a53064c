// The pure logic of the Monitoring pages: the event log's URL filters → API
// query, the same filters applied to a live entry, where an entry's entity
// lives in the panel, and the dashboard's health tiles (which counts are
// problems, where each count links).
import type { EventLogEntry, EventQuery, HealthTile, Severity } from "../api/monitoring";

/** The modules that write the event log (the API's `module` values). */
export const EVENT_MODULES: { value: string; label: string }[] = [
  { value: "servers", label: "Servers" },
  { value: "proxy", label: "Proxy" },
  { value: "tls", label: "Certificates" },
  { value: "pve", label: "Proxmox" },
  { value: "jobs", label: "Jobs" },
  { value: "tasks", label: "Tasks" },
  { value: "monitoring", label: "Monitoring" },
  { value: "platform", label: "Platform" },
  { value: "auth", label: "Sign-ins" },
];

export const SEVERITIES: Severity[] = ["info", "warning", "error"];
const SEVERITY_RANK: Record<Severity, number> = { info: 1, warning: 2, error: 3 };

/** The Events page's filters in the URL (`/monitoring/events?severity=error&module=servers,proxy`). */
export const EVENT_FILTERS = ["module", "severity", "kind", "entity_type", "entity_id", "job_id", "q", "range", "since", "until"] as const;
export type EventFilterKey = (typeof EVENT_FILTERS)[number];
export type EventFilters = Record<EventFilterKey, string>;

/** Time range presets; `since` is computed from now when the list is read. */
export const RANGES: { value: string; label: string; seconds: number }[] = [
  { value: "1h", label: "Last hour", seconds: 3600 },
  { value: "24h", label: "Last 24 hours", seconds: 86400 },
  { value: "7d", label: "Last 7 days", seconds: 7 * 86400 },
];

/** The entity types the log names (the API's `entity_type` values). */
export const ENTITY_TYPES: { value: string; label: string }[] = [
  { value: "server", label: "Server" },
  { value: "certificate", label: "Certificate" },
  { value: "pve_deployment", label: "Proxmox deployment" },
  { value: "job", label: "Job" },
  { value: "user", label: "User" },
];

export function parseModules(value: string): string[] {
  return value
    .split(",")
    .map((m) => m.trim())
    .filter(Boolean);
}

/**
 * The range select's value: a preset, "custom" (explicit since/until, e.g.
 * from a dashboard link) or "" (all time).
 */
export function effectiveRange(f: Pick<EventFilters, "range" | "since" | "until">): string {
  if (f.range === "custom" || RANGES.some((r) => r.value === f.range)) return f.range;
  return f.since || f.until ? "custom" : "";
}

/** The lower time bound of the filters, as an RFC 3339 string, or undefined. */
export function sinceOf(f: Pick<EventFilters, "range" | "since" | "until">, now = Date.now()): string | undefined {
  const range = effectiveRange(f);
  const preset = RANGES.find((r) => r.value === range);
  if (preset) return new Date(now - preset.seconds * 1000).toISOString();
  return range === "custom" && f.since ? f.since : undefined;
}

export function untilOf(f: Pick<EventFilters, "range" | "since" | "until">): string | undefined {
  return effectiveRange(f) === "custom" && f.until ? f.until : undefined;
}

/**
 * The `GET /monitoring/events` query for the page's filters. Values are
 * passed as typed, so the API's 422 names a bad one (the page shows it next
 * to its field).
 */
export function eventQuery(f: EventFilters, now = Date.now()): EventQuery {
  const query: EventQuery = {};
  const modules = parseModules(f.module);
  if (modules.length) query.module = modules.join(",");
  if (f.severity) query.severity = f.severity as Severity;
  if (f.kind.trim()) query.kind = f.kind.trim();
  if (f.entity_type.trim()) query.entity_type = f.entity_type.trim();
  if (f.entity_id.trim()) query.entity_id = f.entity_id.trim();
  if (/^\d+$/.test(f.job_id)) query.job_id = Number(f.job_id);
  if (f.q.trim()) query.q = f.q.trim();
  const since = sinceOf(f, now);
  const until = untilOf(f);
  if (since) query.since = since;
  if (until) query.until = until;
  return query;
}

/** Whether any filter narrows the list. */
export function eventFiltersActive(f: EventFilters): boolean {
  return EVENT_FILTERS.some((k) => f[k]);
}

function kindMatches(filter: string, kind: string): boolean {
  return filter.endsWith(".") ? kind.startsWith(filter) : kind === filter;
}

/**
 * Whether a live entry (from `event.recorded`) belongs in the list the
 * filters show: the same rules as the API, applied in the browser.
 */
export function matchesEventFilters(e: EventLogEntry, f: EventFilters, now = Date.now()): boolean {
  const modules = parseModules(f.module);
  if (modules.length && !modules.includes(e.module)) return false;
  if (f.severity) {
    const min = SEVERITY_RANK[f.severity as Severity];
    if (!min || (SEVERITY_RANK[e.severity] ?? 0) < min) return false;
  }
  if (f.kind.trim() && !kindMatches(f.kind.trim(), e.kind)) return false;
  if (f.entity_type.trim() && e.entity_type !== f.entity_type.trim()) return false;
  if (f.entity_id.trim() && e.entity_id !== f.entity_id.trim()) return false;
  if (/^\d+$/.test(f.job_id) && e.job_id !== Number(f.job_id)) return false;
  const q = f.q.trim().toLowerCase();
  if (q && ![e.message, e.entity_name ?? "", e.kind].some((s) => s.toLowerCase().includes(q))) return false;
  const at = new Date(e.at).getTime();
  const since = sinceOf(f, now);
  const until = untilOf(f);
  if (since && at < new Date(since).getTime()) return false;
  if (until && at >= new Date(until).getTime()) return false;
  return true;
}

/** Puts live entries into a newest-first list: no duplicates, ordered by id. */
export function mergeNewest(list: EventLogEntry[], added: EventLogEntry[]): EventLogEntry[] {
  const ids = new Set(list.map((e) => e.id));
  const fresh = added.filter((e) => !ids.has(e.id));
  if (fresh.length === 0) return list;
  return [...fresh, ...list].sort((a, b) => b.id - a.id);
}

/** Where an entry's entity is shown: a page, the job drawer, or nowhere. */
export type EntityTarget = { kind: "link"; href: string } | { kind: "job"; id: number } | null;

export function entityTarget(e: Pick<EventLogEntry, "entity_type" | "entity_id">, canSeeUsers: boolean): EntityTarget {
  const id = e.entity_id;
  if (!e.entity_type || !id) return null;
  switch (e.entity_type) {
    case "server":
      return { kind: "link", href: `/servers/${encodeURIComponent(id)}` };
    case "certificate":
      return { kind: "link", href: "/certificates" };
    case "pve_deployment":
      return { kind: "link", href: `/proxmox/deployments/${encodeURIComponent(id)}` };
    case "user":
      return canSeeUsers ? { kind: "link", href: "/users" } : null;
    case "job":
      return /^\d+$/.test(id) ? { kind: "job", id: Number(id) } : null;
    default:
      return null;
  }
}

/** RFC 3339 → the value of a `datetime-local` input (local time, minutes). */
export function isoToLocalInput(iso: string): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

// ---------------------------------------------------------------------------
// Dashboard health tiles

export type TileTone = "danger" | "warning" | "info" | "ok" | "neutral";

export interface TileCount {
  key: string;
  label: string;
  count: number;
  tone: TileTone;
  href: string;
}

export interface TileView {
  id: string;
  title: string;
  href: string;
  /** The worst tone of a non-zero problem count; "ok" when calm. */
  tone: TileTone | "error";
  /** The headline: what the tile counts in total, e.g. "5 servers". */
  headline: string;
  counts: TileCount[];
  error?: string | null;
}

interface StateSpec {
  key: string;
  label: string;
  tone: TileTone;
  href: string;
  /** Shown even when zero (the states an operator always wants to see). */
  always?: boolean;
}

const TONE_RANK: Record<TileTone, number> = { danger: 4, warning: 3, info: 2, neutral: 1, ok: 0 };

/** Yesterday in UTC (`YYYY-MM-DD`): tasks due on or before it are overdue. */
export function yesterdayUtc(now = Date.now()): string {
  return new Date(now - 86400 * 1000).toISOString().slice(0, 10);
}

function q(path: string, params: Record<string, string>): string {
  return `${path}?${new URLSearchParams(params).toString()}`;
}

function view(
  id: string,
  title: string,
  href: string,
  tile: HealthTile | undefined,
  specs: StateSpec[],
  noun: (n: number) => string,
  total?: (counts: Record<string, number>) => number,
): TileView {
  const raw = (tile?.counts ?? {}) as Record<string, number>;
  if (!tile || tile.error) {
    return { id, title, href, tone: "error", headline: "", counts: [], error: tile?.error ?? "not reported" };
  }
  const known = new Set(specs.map((s) => s.key));
  // States the API reports that the panel has no label for still show (neutral).
  const extra: StateSpec[] = Object.keys(raw)
    .filter((k) => !known.has(k))
    .sort()
    .map((k) => ({ key: k, label: k.replace(/_/g, " "), tone: "neutral", href }));
  const counts = [...specs, ...extra]
    .map((s) => ({ key: s.key, label: s.label, count: raw[s.key] ?? 0, tone: s.tone, href: s.href, always: s.always }))
    .filter((c) => c.count > 0 || c.always)
    .map(({ always: _a, ...c }) => c);
  const problems = counts.filter((c) => c.count > 0 && (c.tone === "danger" || c.tone === "warning"));
  const tone = problems.reduce<TileTone>((worst, c) => (TONE_RANK[c.tone] > TONE_RANK[worst] ? c.tone : worst), "ok");
  const n = total ? total(raw) : Object.values(raw).reduce((a, b) => a + b, 0);
  return { id, title, href, tone, headline: noun(n), counts };
}

const plural = (one: string, many: string) => (n: number) => `${n} ${n === 1 ? one : many}`;

/** The seven tiles of the dashboard's Health row, from `GET /monitoring/summary`. */
export function healthTiles(s: {
  servers?: HealthTile;
  proxies?: HealthTile;
  certificates?: HealthTile;
  jobs?: HealthTile;
  stands?: HealthTile;
  tasks?: HealthTile;
  events?: HealthTile;
}, now = Date.now()): TileView[] {
  const server = (status: string) => q("/servers", { status });
  const proxy = (status: string) => q("/proxy", { status });
  const cert = (expiry: string) => q("/certificates", { expiry });
  const job = (status: string) => q("/jobs", { status });
  const since = new Date(now - 86400 * 1000).toISOString();
  const events = (severity: string) => q("/monitoring/events", { severity, since });
  const stands = "/proxmox/deployments";
  return [
    view("servers", "Servers", "/servers", s.servers, [
      { key: "unreachable", label: "unreachable", tone: "danger", href: server("unreachable") },
      { key: "auth_failed", label: "auth failed", tone: "danger", href: server("auth_failed") },
      { key: "host_key_changed", label: "host key changed", tone: "warning", href: server("host_key_changed") },
      { key: "unknown", label: "unknown", tone: "neutral", href: server("unknown") },
      { key: "ok", label: "ok", tone: "ok", href: server("ok"), always: true },
    ], plural("server", "servers")),
    view("proxies", "Proxies", "/proxy", s.proxies, [
      { key: "degraded", label: "degraded", tone: "danger", href: proxy("degraded") },
      { key: "drifted", label: "drifted", tone: "warning", href: proxy("drifted") },
      { key: "pending", label: "pending", tone: "info", href: proxy("pending"), always: true },
      { key: "applying", label: "applying", tone: "info", href: proxy("applying") },
      { key: "installing", label: "installing", tone: "info", href: proxy("installing") },
      { key: "in_sync", label: "in sync", tone: "ok", href: proxy("in_sync"), always: true },
      { key: "not_installed", label: "not installed", tone: "neutral", href: proxy("not_installed") },
    ], plural("proxy", "proxies"), (c) => Object.entries(c).filter(([k]) => k !== "not_installed").reduce((a, [, v]) => a + v, 0)),
    view("certificates", "Certificates", "/certificates", s.certificates, [
      { key: "expired", label: "expired", tone: "danger", href: cert("expired") },
      { key: "expiring_7", label: "≤ 7 days left", tone: "danger", href: cert("expiring_7") },
      { key: "renewal_failing", label: "renewal failing", tone: "danger", href: q("/certificates", { renewal: "failing" }) },
      { key: "expiring_14", label: "8–14 days left", tone: "warning", href: cert("expiring_14") },
      { key: "expiring_30", label: "15–30 days left", tone: "warning", href: cert("expiring_30") },
      { key: "ok", label: "ok", tone: "ok", href: cert("ok"), always: true },
    ], plural("certificate", "certificates"), (c) => Object.entries(c).filter(([k]) => k !== "renewal_failing").reduce((a, [, v]) => a + v, 0)),
    view("jobs", "Jobs", "/jobs", s.jobs, [
      { key: "failed", label: "failed", tone: "danger", href: job("failed"), always: true },
      { key: "running", label: "running", tone: "info", href: job("running"), always: true },
      { key: "queued", label: "queued", tone: "neutral", href: job("queued") },
    ], (n) => `${n} queued, running or failed`),
    view("stands", "Proxmox stands", stands, s.stands, [
      { key: "failed", label: "failed", tone: "danger", href: stands },
      { key: "deploying", label: "deploying", tone: "info", href: stands },
      { key: "ready", label: "ready", tone: "ok", href: stands, always: true },
    ], plural("stand", "stands")),
    view("tasks", "Tasks", "/tasks", s.tasks, [
      { key: "overdue", label: "overdue", tone: "warning", href: q("/tasks", { due_before: yesterdayUtc(now), sort: "due_date" }), always: true },
      { key: "open", label: "open", tone: "neutral", href: "/tasks", always: true },
    ], (n) => plural("open task", "open tasks")(n), (c) => c.open ?? 0),
    view("events", "Events (24 h)", q("/monitoring/events", { since }), s.events, [
      { key: "error", label: "errors", tone: "danger", href: events("error"), always: true },
      { key: "warning", label: "warnings", tone: "warning", href: events("warning"), always: true },
      { key: "info", label: "info", tone: "neutral", href: q("/monitoring/events", { since }) },
    ], plural("entry", "entries")),
  ];
}

/** Event kinds whose arrival can change the summary (the dashboard re-reads it, debounced). */
export const HEALTH_EVENT_PREFIXES = ["server.", "proxy.", "certificate.", "job.", "task.", "event."] as const;
