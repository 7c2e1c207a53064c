// The pure logic of the Tasks page: URL filters → API query, the manual
// order (where a dragged row lands and which neighbour the move names),
// labels typed by hand, the panel page of a linked object, due-date state
// and the keyboard shortcuts.
import type { MoveTarget, StorageInput, StorageKind, StorageView, Task, TaskLink, TaskLinkKind, TaskPriority, TaskQuery } from "../api/tasks";
import { PRIORITIES } from "../api/tasks";

/** The Tasks page's filters in the URL (`/tasks?status=done&label=tls`). */
export const TASK_FILTERS = ["q", "status", "assignee", "label", "priority", "due_after", "due_before", "sort", "task"] as const;
export type TaskFilterKey = (typeof TASK_FILTERS)[number];
export type TaskFilters = Record<TaskFilterKey, string>;

/** `status`: open tasks unless the URL says `done` or `all`. */
export type StatusFilter = "open" | "done" | "all";

export function statusFilter(value: string): StatusFilter {
  return value === "done" || value === "all" ? value : "open";
}

export const SORTS: { value: string; label: string }[] = [
  { value: "position", label: "Manual order" },
  { value: "due_date", label: "Due date (soonest first)" },
  { value: "-due_date", label: "Due date (latest first)" },
  { value: "-priority", label: "Priority (urgent first)" },
  { value: "priority", label: "Priority (low first)" },
  { value: "-created_at", label: "Newest first" },
  { value: "created_at", label: "Oldest first" },
  { value: "-updated_at", label: "Recently updated" },
];

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * The `GET /tasks` query for the page's filters. Empty values are left out;
 * `assignee` is `me`, `none` or a user id.
 */
export function taskQuery(f: Omit<TaskFilters, "task">): TaskQuery {
  const query: TaskQuery = {};
  const status = statusFilter(f.status);
  if (status !== "all") query.completed = status === "done";
  if (f.assignee === "me" || f.assignee === "none") query.assignee = f.assignee;
  else if (/^\d+$/.test(f.assignee)) query.assignee_id = Number(f.assignee);
  if (f.label) query.label = f.label;
  if ((PRIORITIES as string[]).includes(f.priority)) query.priority = f.priority as TaskPriority;
  if (DATE.test(f.due_after)) query.due_after = f.due_after;
  if (DATE.test(f.due_before)) query.due_before = f.due_before;
  if (f.q.trim()) query.q = f.q.trim();
  if (f.sort && f.sort !== "position") query.sort = f.sort;
  return query;
}

/** Whether any filter narrows the list (the default `open` status does not count). */
export function filtersActive(f: Omit<TaskFilters, "task">): boolean {
  return Boolean(f.q || f.assignee || f.label || f.priority || f.due_after || f.due_before || (f.status && f.status !== "open"));
}

/** The manual order can be changed only while the list shows it. */
export function isManualOrder(sort: string): boolean {
  return !sort || sort === "position";
}

/**
 * Moves the task `id` so that it ends up at `toIndex` of the list as it is
 * shown after the move. Returns the new list and the `move` request that puts
 * it there: right after its new upper neighbour, or before the first row when
 * it becomes the first. Null when nothing moves.
 */
export function planMove<T extends { id: number }>(list: T[], id: number, toIndex: number): { list: T[]; target: MoveTarget } | null {
  const from = list.findIndex((t) => t.id === id);
  if (from < 0) return null;
  const rest = list.filter((t) => t.id !== id);
  const at = Math.max(0, Math.min(toIndex, rest.length));
  if (at === from) return null;
  const next = [...rest.slice(0, at), list[from], ...rest.slice(at)];
  const target: MoveTarget = at === 0 ? { before_id: rest[0].id } : { after_id: rest[at - 1].id };
  return { list: next, target };
}

/**
 * The index a dragged row lands on when dropped on row `overIndex`, in the
 * upper (`before`) or lower half: as an index of the list after the move.
 */
export function dropIndex(fromIndex: number, overIndex: number, before: boolean): number {
  let to = before ? overIndex : overIndex + 1;
  if (fromIndex < to) to -= 1;
  return to;
}

const LABEL = /^[a-z0-9._-]{1,32}$/;

/**
 * Labels as the API stores them (lowercase, sorted, unique) from what the
 * user typed: comma- or space-separated. Invalid ones are returned apart so
 * the form can say which.
 */
export function parseLabels(text: string, existing: string[] = []): { labels: string[]; invalid: string[] } {
  const out = new Set(existing);
  const invalid: string[] = [];
  for (const raw of text.split(/[\s,]+/)) {
    const l = raw.trim().toLowerCase();
    if (!l) continue;
    if (LABEL.test(l)) out.add(l);
    else invalid.push(raw.trim());
  }
  return { labels: [...out].sort(), invalid };
}

export const LINK_KIND_LABELS: Record<TaskLinkKind, string> = {
  server: "Server",
  domain_group: "Domain group",
  domain: "Domain",
  pve_stand: "Proxmox stand",
};

/**
 * The panel page of a linked object, or null when it no longer exists. A
 * Proxmox stand lives on its deployment's page: pass the stand → deployment
 * map when it is known, otherwise the link goes to the deployments list.
 */
export function linkHref(link: TaskLink, standDeployments?: ReadonlyMap<number, number>): string | null {
  if (link.name == null) return null;
  switch (link.kind) {
    case "server":
      return `/servers/${link.id}`;
    case "domain_group":
      return `/domains/groups/${link.id}`;
    case "domain":
      return `/domains/${link.id}/edit`;
    case "pve_stand": {
      const dep = standDeployments?.get(link.id);
      return dep != null ? `/proxmox/deployments/${dep}` : "/proxmox/deployments";
    }
  }
}

/** A link's text: the object's name, or "(deleted)". */
export function linkName(link: TaskLink): string {
  return link.name ?? "(deleted)";
}

/** Today as `YYYY-MM-DD` in local time. */
export function todayIso(now = new Date()): string {
  const m = String(now.getMonth() + 1).padStart(2, "0");
  const d = String(now.getDate()).padStart(2, "0");
  return `${now.getFullYear()}-${m}-${d}`;
}

export type DueState = "overdue" | "today" | "soon" | "later";

/** How pressing a due date is for an open task (dates compare as strings). */
export function dueState(task: Pick<Task, "due_date" | "completed">, today: string): DueState | null {
  if (!task.due_date || task.completed) return null;
  if (task.due_date < today) return "overdue";
  if (task.due_date === today) return "today";
  const t = new Date(`${today}T00:00:00Z`).getTime();
  const due = new Date(`${task.due_date}T00:00:00Z`).getTime();
  return due - t <= 3 * 86400_000 ? "soon" : "later";
}

/** "2026-12-24" → "24 Dec 2026" (the date as written, no time zone shift). */
export function formatDue(date: string | null): string {
  if (!date || !DATE.test(date)) return date ?? "—";
  const [y, m, d] = date.split("-").map(Number);
  return new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "2-digit", timeZone: "UTC" }).format(Date.UTC(y, m - 1, d));
}

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

/** Deleting a task is for its creator and admins. */
export function canDeleteTask(task: Pick<Task, "created_by">, me: { id: number; role: string }): boolean {
  return me.role === "admin" || task.created_by?.id === me.id;
}

export type ShortcutAction = "focus-add" | "focus-search" | "next" | "prev" | "toggle" | "open" | "edit" | "delete" | "help";

/** The shortcuts, for the help overlay. */
export const SHORTCUTS: { keys: string[]; action: string }[] = [
  { keys: ["n"], action: "Focus “New task”" },
  { keys: ["/"], action: "Focus the search" },
  { keys: ["j"], action: "Select the next task" },
  { keys: ["k"], action: "Select the previous task" },
  { keys: ["x"], action: "Complete or reopen the selected task" },
  { keys: ["Enter"], action: "Open the selected task" },
  { keys: ["e"], action: "Edit the selected task's title" },
  { keys: ["Alt", "↑"], action: "Move the focused task up (manual order)" },
  { keys: ["Alt", "↓"], action: "Move the focused task down (manual order)" },
  { keys: ["Delete"], action: "Delete the selected task (asks first)" },
  { keys: ["#"], action: "Delete the selected task (asks first)" },
  { keys: ["Esc"], action: "Cancel an edit, close the task" },
  { keys: ["?"], action: "Show these shortcuts" },
];

/** Whether a key press goes to something the user types into. */
export function isTypingTarget(target: EventTarget | null): boolean {
  if (!target || !(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  const tag = target.tagName;
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  if (tag !== "INPUT") return false;
  const type = (target as HTMLInputElement).type;
  return !["checkbox", "radio", "button", "submit", "reset", "file", "range", "color"].includes(type);
}

/**
 * The page shortcut a key press means, or null. Nothing fires while typing,
 * with Ctrl/Meta/Alt held (browser and system shortcuts), or — for Enter —
 * when a button or link has the focus (Enter activates it).
 */
export function shortcutFor(e: { key: string; ctrlKey: boolean; metaKey: boolean; altKey: boolean; target: EventTarget | null }): ShortcutAction | null {
  if (e.ctrlKey || e.metaKey || e.altKey || isTypingTarget(e.target)) return null;
  switch (e.key) {
    case "n":
      return "focus-add";
    case "/":
      return "focus-search";
    case "j":
      return "next";
    case "k":
      return "prev";
    case "x":
      return "toggle";
    case "e":
      return "edit";
    case "Delete":
    case "#":
      return "delete";
    case "?":
      return "help";
    case "Enter": {
      const el = e.target instanceof HTMLElement ? e.target : null;
      if (el && el.closest("button, a, input, select, textarea, summary")) return null;
      return "open";
    }
    default:
      return null;
  }
}

// ---- attachment storage (admins) ----

/** The attachment storage form's values. The secret starts empty: the API never returns it. */
export interface StorageForm {
  kind: StorageKind;
  bucket: string;
  endpoint: string;
  region: string;
  prefix: string;
  access_key_id: string;
  secret_access_key: string;
  allow_http: boolean;
}

/** The API's field names the storage form shows (an `s3` error is the form's own: the store's answer or the 409). */
export const STORAGE_FIELDS = ["kind", "s3.bucket", "s3.endpoint", "s3.region", "s3.prefix", "s3.access_key_id", "s3.secret_access_key", "s3.allow_http"] as const;

/** The form for a storage view; without S3 settings yet, the region is `us-east-1` (what stores that ignore it expect). */
export function storageForm(view: StorageView): StorageForm {
  const s3 = view.s3;
  return {
    kind: view.kind,
    bucket: s3?.bucket ?? "",
    endpoint: s3?.endpoint ?? "",
    region: s3?.region || "us-east-1",
    prefix: s3?.prefix ?? "",
    access_key_id: s3?.access_key_id ?? "",
    secret_access_key: "",
    allow_http: s3?.allow_http ?? false,
  };
}

/**
 * The `PUT /tasks/storage` body. Local disk sends no `s3` (the stored S3
 * settings are kept for a later switch back); an empty secret is left out,
 * which keeps the stored one.
 */
export function storageBody(f: StorageForm): StorageInput {
  if (f.kind === "local") return { kind: "local" };
  return {
    kind: "s3",
    s3: {
      bucket: f.bucket.trim(),
      endpoint: f.endpoint.trim(),
      region: f.region.trim(),
      prefix: f.prefix.trim(),
      access_key_id: f.access_key_id.trim(),
      allow_http: f.allow_http,
      ...(f.secret_access_key ? { secret_access_key: f.secret_access_key } : {}),
    },
  };
}
