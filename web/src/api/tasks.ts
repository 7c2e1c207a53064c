// Calls of the Tasks API (tag `tasks`): the team task tracker — tasks, their
// manual order, labels, assignees, links to other objects and attachments —
// and the self-registration endpoints of the login page.
//
// The types are written here from the API contract rather than taken from
// the generated schema, so the panel does not depend on how the backend names
// its schemas. The calls still go through the shared `api` client (same
// origin, session cookie, CSRF header, problem+json → `ApiError`); only the
// attachment upload uses XMLHttpRequest, for its upload progress. The
// attachment storage setting (admins) is the exception: its types and calls
// are the generated ones.
import { api, call, callRaw, getCsrfToken, ifMatch, parseProblem, ApiError, type Page, type Schemas } from "./client";
import { allGroups, allServers, listDomains } from "./domains";
import { listDeployments } from "./pve";

export type TaskPriority = "low" | "normal" | "high" | "urgent";
export type TaskLinkKind = "server" | "domain_group" | "domain" | "pve_stand";

export const PRIORITIES: TaskPriority[] = ["low", "normal", "high", "urgent"];
export const LINK_KINDS: TaskLinkKind[] = ["server", "domain_group", "domain", "pve_stand"];

/** A user as tasks name them (assignee, creator, uploader). */
export interface UserRef {
  id: number;
  username: string;
}

/** A link from a task to another object; `name` is null once the object is gone. */
export interface TaskLink {
  kind: TaskLinkKind;
  id: number;
  name?: string | null;
}

export interface Task {
  id: number;
  title: string;
  /** Markdown; may be empty. */
  description: string;
  priority: TaskPriority;
  /** A calendar date, `YYYY-MM-DD`; absent or null when there is none. */
  due_date?: string | null;
  assignee?: UserRef | null;
  /** Lowercase, sorted, unique. */
  labels: string[];
  completed: boolean;
  completed_at?: string | null;
  /** Sort key of the manual order (ascending = top first). */
  position: number;
  links: TaskLink[];
  attachment_count: number;
  /** Null once the creator's account is gone. */
  created_by?: UserRef | null;
  /** Also sent as `ETag: "<version>"`; `If-Match` on edits. */
  version: number;
  created_at: string;
  updated_at: string;
}

/** `GET /tasks` query. */
export interface TaskQuery {
  completed?: boolean;
  assignee_id?: number;
  /** `me` or `none`. */
  assignee?: "me" | "none";
  label?: string;
  priority?: TaskPriority;
  due_before?: string;
  due_after?: string;
  q?: string;
  /** `kind:id`, e.g. `server:5`. */
  link?: string;
  /** `position`, `due_date`, `priority`, `created_at`, `updated_at`; `-` prefix for descending. */
  sort?: string;
  limit?: number;
  cursor?: string;
}

export interface TaskCreate {
  title: string;
  description?: string;
  priority?: TaskPriority;
  due_date?: string | null;
  assignee_id?: number | null;
  labels?: string[];
  links?: { kind: TaskLinkKind; id: number }[];
}

export interface TaskPatch {
  title?: string;
  description?: string;
  priority?: TaskPriority;
  /** null clears. */
  due_date?: string | null;
  /** null clears. */
  assignee_id?: number | null;
  labels?: string[];
  links?: { kind: TaskLinkKind; id: number }[];
  completed?: boolean;
}

/** Where `POST /tasks/{id}/move` puts a task: exactly one of these. */
export type MoveTarget = { after_id: number } | { before_id: number } | { index: number };

export interface LabelCount {
  label: string;
  count: number;
}

export interface Assignee {
  id: number;
  username: string;
  display_name: string;
}

export interface Attachment {
  id: number;
  task_id: number;
  filename: string;
  content_type: string;
  size: number;
  sha256: string;
  created_by?: UserRef | null;
  created_at: string;
}

export type TaskChangeKind =
  | "created"
  | "updated"
  | "completed"
  | "reopened"
  | "moved"
  | "deleted"
  | "attachment_added"
  | "attachment_removed";

/** Payload of the `task.changed` event. */
export interface TaskChange {
  task_id: number;
  change: TaskChangeKind;
  title: string;
}

export interface AuthOptions {
  self_registration: boolean;
}

export interface Registration {
  username: string;
  password: string;
  display_name?: string;
}

// The shared client, seen without the generated path types: the routes below
// are typed by the interfaces above.
type Params = { path?: Record<string, unknown>; query?: object; header?: Record<string, string> };
type Result<T> = Promise<{ data?: T; error?: unknown; response: Response }>;
type Method = <T>(path: string, init?: { params?: Params; body?: unknown }) => Result<T>;
const untyped = api as unknown as { GET: Method; POST: Method; PATCH: Method; PUT: Method; DELETE: Method };

// ---- tasks ----

export function listTasks(query: TaskQuery): Promise<Page<Task>> {
  return call(untyped.GET<Page<Task>>("/api/v1/tasks", { params: { query } }));
}

export function getTask(id: number): Promise<Task> {
  return call(untyped.GET<Task>("/api/v1/tasks/{id}", { params: { path: { id } } }));
}

export function createTask(body: TaskCreate): Promise<Task> {
  return call(untyped.POST<Task>("/api/v1/tasks", { body }));
}

/** Edits a task, sending `If-Match` with the version the user saw (stale → 412 `stale`). */
export function patchTask(id: number, version: number, body: TaskPatch): Promise<Task> {
  return call(untyped.PATCH<Task>("/api/v1/tasks/{id}", { params: { path: { id }, header: { "If-Match": ifMatch(version) } }, body }));
}

export async function deleteTask(id: number): Promise<void> {
  await callRaw(untyped.DELETE<unknown>("/api/v1/tasks/{id}", { params: { path: { id } } }));
}

export function moveTask(id: number, target: MoveTarget): Promise<Task> {
  return call(untyped.POST<Task>("/api/v1/tasks/{id}/move", { params: { path: { id } }, body: target }));
}

export function listLabels(): Promise<LabelCount[]> {
  return call(untyped.GET<LabelCount[]>("/api/v1/tasks/labels"));
}

export function listAssignees(): Promise<Assignee[]> {
  return call(untyped.GET<Assignee[]>("/api/v1/tasks/assignees"));
}

// ---- link targets (the objects a task can link to, from their own APIs) ----

/** An object a task can link to, for the "Add link" select. */
export interface LinkTarget {
  id: number;
  name: string;
}

/** Every domain (for the select): follows the cursors, by name. */
async function allDomains(): Promise<LinkTarget[]> {
  const out: LinkTarget[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 50; i++) {
    const page = await listDomains({ sort: "name" }, cursor, 200);
    out.push(...page.items.map((d) => ({ id: d.id, name: d.name })));
    if (!page.next) break;
    cursor = page.next;
  }
  return out;
}

/** The Proxmox stands (one per user of a deployment), named "<blueprint> #<deployment> · <user>". */
export async function allStands(): Promise<(LinkTarget & { deployment_id: number })[]> {
  const deployments = await listDeployments();
  return deployments.flatMap((d) => d.stands.map((s) => ({ id: s.id, name: `${d.blueprint} #${d.id} · ${s.user}`, deployment_id: d.id })));
}

export async function listLinkTargets(kind: TaskLinkKind): Promise<LinkTarget[]> {
  switch (kind) {
    case "server":
      return allServers();
    case "domain_group":
      return (await allGroups()).map((g) => ({ id: g.id, name: g.name }));
    case "domain":
      return allDomains();
    case "pve_stand":
      return allStands();
  }
}

// ---- attachments ----

export function listAttachments(taskId: number): Promise<Attachment[]> {
  return call(untyped.GET<Attachment[]>("/api/v1/tasks/{id}/attachments", { params: { path: { id: taskId } } }));
}

export async function deleteAttachment(taskId: number, attachmentId: number): Promise<void> {
  await callRaw(untyped.DELETE<unknown>("/api/v1/tasks/{id}/attachments/{attachment_id}", { params: { path: { id: taskId, attachment_id: attachmentId } } }));
}

/** Where the browser downloads an attachment (same origin: the session cookie goes along). */
export function attachmentUrl(taskId: number, attachmentId: number): string {
  return `/api/v1/tasks/${taskId}/attachments/${attachmentId}`;
}

/** Upload progress: bytes sent of the request body's total. */
export interface UploadProgress {
  loaded: number;
  total: number;
}

export interface UploadHandle {
  done: Promise<Attachment>;
  abort: () => void;
}

/**
 * Uploads one file as `multipart/form-data` (part `file`) with
 * XMLHttpRequest, whose `upload.onprogress` reports the bytes sent (fetch
 * cannot). Sends the CSRF header like the API client; a failure becomes an
 * `ApiError` from the problem document (413 names the size limit).
 */
export function uploadAttachment(
  taskId: number,
  file: File,
  onProgress: (p: UploadProgress) => void,
  xhrFactory: () => XMLHttpRequest = () => new XMLHttpRequest(),
): UploadHandle {
  const xhr = xhrFactory();
  const done = new Promise<Attachment>((resolve, reject) => {
    xhr.open("POST", `/api/v1/tasks/${taskId}/attachments`);
    const csrf = getCsrfToken();
    if (csrf) xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress({ loaded: e.loaded, total: e.total });
    };
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress({ loaded: file.size, total: file.size });
        resolve(body as Attachment);
      } else {
        reject(parseProblem(xhr.status, body, xhr.getResponseHeader("x-request-id")));
      }
    };
    xhr.onerror = () =>
      reject(new ApiError({ status: 0, code: "network", detail: "The upload did not reach Gantry. Check your connection and try again." }));
    xhr.onabort = () => reject(new ApiError({ status: 0, code: "aborted", detail: "The upload was cancelled." }));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
  return { done, abort: () => xhr.abort() };
}

// ---- attachment storage (admins) ----

/** Where new attachments go, as the API shows it: never the secret, only `s3.secret_set`. */
export type StorageView = Schemas["StorageView"];
export type StorageKind = Schemas["StorageKind"];
export type S3View = Schemas["S3View"];
/** A new storage setting; `s3` left out keeps the stored S3 settings. */
export type StorageInput = Schemas["StorageInput"];
/** S3 settings; `secret_access_key` left out keeps the stored secret. */
export type S3Input = Schemas["S3Input"];

export function getStorage(): Promise<StorageView> {
  return call(api.GET("/api/v1/tasks/storage"));
}

/**
 * Changes where new attachments go. S3 settings are tested first (a probe
 * written, read back and deleted): a failure is a 422 on `s3` saying what the
 * store answered; changing the bucket, endpoint or prefix while attachments
 * live in S3 is a 409 on `s3`.
 */
export function putStorage(body: StorageInput): Promise<StorageView> {
  return call(api.PUT("/api/v1/tasks/storage", { body }));
}

// ---- self-registration (login page, no session) ----

export function getAuthOptions(): Promise<AuthOptions> {
  return call(untyped.GET<AuthOptions>("/api/v1/auth/options"));
}

export function register(body: Registration): Promise<unknown> {
  return call(untyped.POST<unknown>("/api/v1/auth/register", { body }));
}
