// A task's drawer (opened from the Tasks page with `?task=<id>`): title and
// description (Markdown, rendered safely; a textarea to edit), priority, due
// date, assignee, labels, links to other objects, attachments (download,
// delete, drag-and-drop upload with progress) and delete. Every change is a
// PATCH with `If-Match` of the version shown; a 412 reloads the task and says
// so. Viewers see the same, read-only.
import { useCallback, useEffect, useRef, useState } from "react";
import { Link } from "react-router";
import { hasRole, isApiError } from "../api/client";
import { useEvents } from "../api/events";
import {
  allStands,
  attachmentUrl,
  deleteAttachment,
  deleteTask,
  getTask,
  LINK_KINDS,
  listAttachments,
  listLinkTargets,
  patchTask,
  PRIORITIES,
  uploadAttachment,
  type Assignee,
  type Attachment,
  type LinkTarget,
  type Task,
  type TaskChange,
  type TaskLinkKind,
  type TaskPatch,
  type TaskPriority,
} from "../api/tasks";
import { useMe } from "../auth/AuthContext";
import { formatDateTime, formatRelative } from "../lib/format";
import { canDeleteTask, formatBytes, formatDue, LINK_KIND_LABELS, linkHref, linkName, parseLabels, todayIso } from "../lib/tasks";
import { ConfirmDialog } from "./ConfirmDialog";
import { Dialog } from "./Dialog";
import { FormError, SelectField, TextAreaField, TextField, useFormErrors } from "./Form";
import { ProgressBar } from "./JobProgress";
import { Markdown } from "./Markdown";
import { ErrorState, Loading, Spinner } from "./States";
import { DueBadge, PriorityBadge } from "./TaskBadges";
import { useToast } from "./Toasts";

const FIELDS = ["title", "description", "priority", "due_date", "assignee_id", "labels", "labels[", "links", "links[", "completed"] as const;

const STALE_NOTICE = "Someone else changed this task after you opened it, so your change was not saved. The latest version is shown: apply your change again.";

export interface TaskDrawerProps {
  /** The open task; null closes the drawer. */
  taskId: number | null;
  onClose: () => void;
  /** A change was saved (the list updates its row). */
  onChanged: (task: Task) => void;
  onDeleted: (id: number) => void;
  assignees: Assignee[];
  /** Labels in use, offered while typing. */
  knownLabels: string[];
}

export function TaskDrawer({ taskId, onClose, onChanged, onDeleted, assignees, knownLabels }: TaskDrawerProps) {
  const me = useMe();
  const canEdit = hasRole(me.role, "operator");
  const toast = useToast();
  const [task, setTask] = useState<Task | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [editingText, setEditingText] = useState(false);
  const [titleDraft, setTitleDraft] = useState("");
  const [descDraft, setDescDraft] = useState("");
  const [deleting, setDeleting] = useState(false);
  const [gone, setGone] = useState(false);
  const form = useFormErrors(FIELDS);
  const seq = useRef(0);

  const load = useCallback(async (id: number) => {
    const n = ++seq.current;
    try {
      const t = await getTask(id);
      if (n !== seq.current) return null;
      setTask(t);
      setLoadError(null);
      return t;
    } catch (e) {
      if (n !== seq.current) return null;
      setLoadError(e);
      return null;
    }
  }, []);

  useEffect(() => {
    setTask(null);
    setLoadError(null);
    setNotice(null);
    setEditingText(false);
    setGone(false);
    form.clear();
    if (taskId != null) void load(taskId);
    // form.clear is stable.
  }, [taskId, load]);

  // Escape closes the drawer even when the focus has left it (a toast was
  // dismissed, the page was clicked); a dialog on top handles its own Escape.
  const closeRef = useRef(onClose);
  closeRef.current = onClose;
  useEffect(() => {
    if (taskId == null) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== "Escape" || e.defaultPrevented) return;
      const target = e.target instanceof Element ? e.target : null;
      if (target?.closest('[role="dialog"], [role="alertdialog"]')) return;
      if (document.querySelectorAll(".overlay").length > 1) return;
      closeRef.current();
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [taskId]);

  // Someone else changed (or deleted) this task: show the latest version.
  useEvents("task.", (e) => {
    const p = e.payload as Partial<TaskChange>;
    if (taskId == null || p.task_id !== taskId) return;
    if (p.change === "deleted") setGone(true);
    else void load(taskId);
  });

  /** Saves one change with If-Match; a 412 reloads the task and says so. */
  async function save(patch: TaskPatch): Promise<boolean> {
    if (!task) return false;
    setSaving(true);
    setNotice(null);
    form.clear();
    try {
      const saved = await patchTask(task.id, task.version, patch);
      setTask(saved);
      onChanged(saved);
      return true;
    } catch (e) {
      if (isApiError(e) && e.code === "stale") {
        const latest = await load(task.id);
        if (latest) onChanged(latest);
        setNotice(STALE_NOTICE);
      } else form.setError(e);
      return false;
    } finally {
      setSaving(false);
    }
  }

  function startTextEdit() {
    if (!task) return;
    setTitleDraft(task.title);
    setDescDraft(task.description);
    setEditingText(true);
  }

  async function saveText(e: React.FormEvent) {
    e.preventDefault();
    if (!task) return;
    const patch: TaskPatch = {};
    if (titleDraft.trim() !== task.title) patch.title = titleDraft.trim();
    if (descDraft !== task.description) patch.description = descDraft;
    if (Object.keys(patch).length === 0 || (await save(patch))) setEditingText(false);
  }

  const t = task;
  const open = taskId != null;
  const mayDelete = t != null && canDeleteTask(t, me);
  return (
    <>
      <Dialog
        open={open}
        title={t ? t.title : "Task"}
        onClose={onClose}
        variant="drawer"
        size="lg"
        initialFocus=".dialog-close"
        className="task-drawer"
        footer={
          t && mayDelete ? (
            <button type="button" className="btn btn-danger-outline" onClick={() => setDeleting(true)} disabled={gone}>
              Delete task
            </button>
          ) : undefined
        }
      >
        {gone ? (
          <p className="notice notice-warning" role="alert">
            This task was deleted by someone else.
          </p>
        ) : null}
        {!t ? (
          loadError ? (
            <ErrorState error={loadError} onRetry={() => taskId != null && void load(taskId)} title="Could not load the task" />
          ) : (
            <Loading label="Loading task…" />
          )
        ) : (
          <div className="task-detail">
            {notice ? (
              <p className="notice notice-warning" role="alert">
                {notice}
              </p>
            ) : null}
            <FormError message={form.formMessage} />

            <div className="task-status-line">
              {canEdit ? (
                <label className="task-complete">
                  <input type="checkbox" checked={t.completed} disabled={saving || gone} onChange={() => void save({ completed: !t.completed })} />
                  {t.completed ? "Done" : "Mark as done"}
                </label>
              ) : (
                <span className={`badge ${t.completed ? "badge-success" : "badge-neutral"}`}>{t.completed ? "done" : "open"}</span>
              )}
              {t.completed && t.completed_at ? <span className="muted small">completed {formatRelative(t.completed_at)}</span> : null}
              {saving ? <Spinner label="Saving" /> : null}
            </div>

            <section aria-labelledby="td-text" className="task-section">
              <div className="task-section-head">
                <h3 className="section-title" id="td-text">
                  Description
                </h3>
                {canEdit && !editingText && !gone ? (
                  <button type="button" className="btn btn-ghost btn-sm" onClick={startTextEdit}>
                    Edit
                  </button>
                ) : null}
              </div>
              {editingText ? (
                <form onSubmit={saveText} noValidate className="form task-text-form">
                  <TextField label="Title" name="title" value={titleDraft} onChange={(e) => setTitleDraft(e.target.value)} error={form.fieldError("title")} required />
                  <TextAreaField
                    label="Description"
                    name="description"
                    rows={10}
                    value={descDraft}
                    hint="Markdown: **bold**, *italic*, lists, `code`, [links](https://…). HTML is shown as text."
                    error={form.fieldError("description")}
                    onChange={(e) => setDescDraft(e.target.value)}
                    onKeyDown={(e) => {
                      if (e.key === "Escape") {
                        e.stopPropagation();
                        setEditingText(false);
                      }
                    }}
                  />
                  <div className="form-actions">
                    <button type="button" className="btn btn-secondary" onClick={() => setEditingText(false)} disabled={saving}>
                      Cancel
                    </button>
                    <button type="submit" className="btn btn-primary" disabled={saving || !titleDraft.trim()}>
                      {saving ? "Saving…" : "Save"}
                    </button>
                  </div>
                </form>
              ) : t.description.trim() ? (
                <Markdown source={t.description} label="Rendered description" className="task-description" />
              ) : (
                <p className="muted">No description.</p>
              )}
            </section>

            <section aria-labelledby="td-details" className="task-section">
              <h3 className="section-title" id="td-details">
                Details
              </h3>
              {canEdit ? (
                <div className="grid grid-3 task-fields">
                  <SelectField
                    label="Priority"
                    name="priority"
                    value={t.priority}
                    disabled={saving || gone}
                    error={form.fieldError("priority")}
                    onChange={(e) => void save({ priority: e.target.value as TaskPriority })}
                    options={PRIORITIES.map((p) => ({ value: p, label: p }))}
                  />
                  <TextField
                    label="Due date"
                    name="due_date"
                    type="date"
                    value={t.due_date ?? ""}
                    disabled={saving || gone}
                    error={form.fieldError("due_date")}
                    onChange={(e) => void save({ due_date: e.target.value || null })}
                  />
                  <SelectField
                    label="Assignee"
                    name="assignee_id"
                    value={t.assignee ? String(t.assignee.id) : ""}
                    disabled={saving || gone}
                    error={form.fieldError("assignee_id")}
                    onChange={(e) => void save({ assignee_id: e.target.value ? Number(e.target.value) : null })}
                    options={[
                      { value: "", label: "Unassigned" },
                      ...assignees.map((a) => ({ value: String(a.id), label: a.display_name ? `${a.display_name} (${a.username})` : a.username })),
                      ...(t.assignee && !assignees.some((a) => a.id === t.assignee!.id) ? [{ value: String(t.assignee.id), label: t.assignee.username }] : []),
                    ]}
                  />
                </div>
              ) : (
                <dl className="facts facts-2">
                  <div>
                    <dt>Priority</dt>
                    <dd>
                      <PriorityBadge priority={t.priority} />
                    </dd>
                  </div>
                  <div>
                    <dt>Due date</dt>
                    <dd>
                      <DueBadge task={t} today={todayIso()} />
                    </dd>
                  </div>
                  <div>
                    <dt>Assignee</dt>
                    <dd>{t.assignee?.username ?? <span className="muted">unassigned</span>}</dd>
                  </div>
                </dl>
              )}
              {canEdit && t.due_date ? <p className="muted small">Due {formatDue(t.due_date)}.</p> : null}
              <dl className="facts facts-2 task-provenance">
                <div>
                  <dt>Created</dt>
                  <dd>
                    {formatDateTime(t.created_at)}
                    {t.created_by ? ` by ${t.created_by.username}` : ""}
                  </dd>
                </div>
                <div>
                  <dt>Updated</dt>
                  <dd>
                    {formatDateTime(t.updated_at)} <span className="muted small">(version {t.version})</span>
                  </dd>
                </div>
              </dl>
            </section>

            <LabelsEditor task={t} canEdit={canEdit && !gone} saving={saving} knownLabels={knownLabels} error={form.fieldError("labels") ?? form.itemError("labels", 0)} onSave={(labels) => save({ labels })} />
            <LinksEditor task={t} canEdit={canEdit && !gone} saving={saving} error={form.fieldError("links") ?? form.itemError("links", 0)} onSave={(links) => save({ links })} />
            <Attachments
              task={t}
              canEdit={canEdit && !gone}
              onChanged={() => {
                void load(t.id).then((latest) => latest && onChanged(latest));
              }}
            />
          </div>
        )}
      </Dialog>
      <ConfirmDialog
        open={deleting && t != null}
        title={`Delete task “${t?.title ?? ""}”?`}
        confirmLabel="Delete task"
        onClose={() => setDeleting(false)}
        onConfirm={async () => {
          const cur = t!;
          await deleteTask(cur.id);
          toast.success(`Task “${cur.title}” deleted`);
          onDeleted(cur.id);
        }}
      >
        <p>
          <strong>{t?.title}</strong>
          {t && t.attachment_count > 0 ? ` and its ${t.attachment_count} attachment${t.attachment_count === 1 ? "" : "s"} are deleted.` : " is deleted."} This cannot be
          undone.
        </p>
      </ConfirmDialog>
    </>
  );
}

function LabelsEditor({
  task,
  canEdit,
  saving,
  knownLabels,
  error,
  onSave,
}: {
  task: Task;
  canEdit: boolean;
  saving: boolean;
  knownLabels: string[];
  error?: string;
  onSave: (labels: string[]) => Promise<boolean>;
}) {
  const [text, setText] = useState("");
  const [invalid, setInvalid] = useState<string | null>(null);
  const listId = `task-labels-${task.id}`;

  async function add() {
    const parsed = parseLabels(text, task.labels);
    if (parsed.invalid.length > 0) {
      setInvalid(`Not a label: ${parsed.invalid.join(", ")}. Labels are 1–32 of a–z, 0–9, “.”, “_” and “-”.`);
      return;
    }
    setInvalid(null);
    if (parsed.labels.length === task.labels.length) return setText("");
    if (await onSave(parsed.labels)) setText("");
  }

  return (
    <section aria-labelledby="td-labels" className="task-section">
      <h3 className="section-title" id="td-labels">
        Labels
      </h3>
      {task.labels.length === 0 ? <p className="muted">No labels.</p> : null}
      {task.labels.length > 0 ? (
        <ul className="chip-list" aria-label="Labels of this task">
          {task.labels.map((l) => (
            <li key={l} className="chip chip-removable">
              {l}
              {canEdit ? (
                <button type="button" className="chip-remove" aria-label={`Remove label ${l}`} disabled={saving} onClick={() => void onSave(task.labels.filter((x) => x !== l))}>
                  ×
                </button>
              ) : null}
            </li>
          ))}
        </ul>
      ) : null}
      {canEdit ? (
        <div className="inline-add">
          <TextField
            label="Add labels"
            name="labels"
            list={listId}
            autoComplete="off"
            placeholder="tls, web"
            value={text}
            error={invalid ?? error}
            onChange={(e) => {
              setText(e.target.value);
              setInvalid(null);
            }}
            onKeyDown={(e) => {
              if (e.key === "Enter") {
                e.preventDefault();
                void add();
              }
            }}
          />
          <datalist id={listId}>
            {knownLabels.filter((l) => !task.labels.includes(l)).map((l) => (
              <option key={l} value={l} />
            ))}
          </datalist>
          <button type="button" className="btn btn-secondary" onClick={() => void add()} disabled={saving || !text.trim()}>
            Add
          </button>
        </div>
      ) : null}
    </section>
  );
}

function LinksEditor({
  task,
  canEdit,
  saving,
  error,
  onSave,
}: {
  task: Task;
  canEdit: boolean;
  saving: boolean;
  error?: string;
  onSave: (links: { kind: TaskLinkKind; id: number }[]) => Promise<boolean>;
}) {
  const [kind, setKind] = useState<TaskLinkKind | "">("");
  const [targets, setTargets] = useState<{ kind: TaskLinkKind; items: LinkTarget[] } | null>(null);
  const [targetsError, setTargetsError] = useState<unknown>(null);
  const [target, setTarget] = useState("");
  const [stands, setStands] = useState<Map<number, number> | undefined>(undefined);
  const hasStand = task.links.some((l) => l.kind === "pve_stand" && l.name != null);

  // A stand's page is its deployment's: find which, when the task links one.
  useEffect(() => {
    if (!hasStand || stands) return;
    allStands().then(
      (all) => setStands(new Map(all.map((s) => [s.id, s.deployment_id]))),
      () => setStands(new Map()),
    );
  }, [hasStand, stands]);

  useEffect(() => {
    setTarget("");
    setTargetsError(null);
    if (!kind) return setTargets(null);
    let live = true;
    listLinkTargets(kind).then(
      (items) => live && setTargets({ kind, items }),
      (e: unknown) => live && setTargetsError(e),
    );
    return () => {
      live = false;
    };
  }, [kind]);

  const current = task.links.map((l) => ({ kind: l.kind, id: l.id }));
  const linked = new Set(task.links.map((l) => `${l.kind}:${l.id}`));
  const options = targets && targets.kind === kind ? targets.items.filter((o) => !linked.has(`${kind}:${o.id}`)) : null;

  async function add() {
    if (!kind || !target) return;
    if (await onSave([...current, { kind, id: Number(target) }])) {
      setTarget("");
    }
  }

  return (
    <section aria-labelledby="td-links" className="task-section">
      <h3 className="section-title" id="td-links">
        Links
      </h3>
      {task.links.length === 0 ? (
        <p className="muted">Not linked to anything.</p>
      ) : (
        <ul className="task-links" aria-label="Links of this task">
          {task.links.map((l) => {
            const href = linkHref(l, stands);
            return (
              <li key={`${l.kind}:${l.id}`}>
                <span className="muted small">{LINK_KIND_LABELS[l.kind]}</span>{" "}
                {href ? <Link to={href}>{linkName(l)}</Link> : <span className="muted">{linkName(l)}</span>}
                {canEdit ? (
                  <button
                    type="button"
                    className="btn btn-ghost btn-sm"
                    aria-label={`Remove link to ${linkName(l)}`}
                    disabled={saving}
                    onClick={() => void onSave(current.filter((c) => !(c.kind === l.kind && c.id === l.id)))}
                  >
                    Remove
                  </button>
                ) : null}
              </li>
            );
          })}
        </ul>
      )}
      {error ? <p className="field-error">{error}</p> : null}
      {canEdit ? (
        <div className="inline-add">
          <SelectField
            label="Link kind"
            name="link_kind"
            value={kind}
            onChange={(e) => setKind(e.target.value as TaskLinkKind | "")}
            options={[{ value: "", label: "Choose…" }, ...LINK_KINDS.map((k) => ({ value: k, label: LINK_KIND_LABELS[k] }))]}
          />
          <SelectField
            label="Object"
            name="link_id"
            value={target}
            disabled={!kind || !options}
            onChange={(e) => setTarget(e.target.value)}
            error={targetsError ? (isApiError(targetsError) ? targetsError.detail : String(targetsError)) : undefined}
            options={[
              { value: "", label: !kind ? "Choose a kind first" : !options ? "Loading…" : options.length === 0 ? "Nothing to link" : "Choose…" },
              ...(options ?? []).map((o) => ({ value: String(o.id), label: o.name })),
            ]}
          />
          <button type="button" className="btn btn-secondary" onClick={() => void add()} disabled={saving || !kind || !target}>
            Add link
          </button>
        </div>
      ) : null}
    </section>
  );
}

interface Upload {
  key: number;
  name: string;
  loaded: number;
  total: number;
  error: string | null;
  abort: () => void;
}

let uploadKey = 0;

function Attachments({ task, canEdit, onChanged }: { task: Task; canEdit: boolean; onChanged: () => void }) {
  const toast = useToast();
  const [items, setItems] = useState<Attachment[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [dragOver, setDragOver] = useState(false);
  const [removing, setRemoving] = useState<Attachment | null>(null);
  const inputRef = useRef<HTMLInputElement>(null);
  const taskId = task.id;

  const load = useCallback(async () => {
    try {
      setItems(await listAttachments(taskId));
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [taskId]);

  // Re-read when the count changes (an upload or delete here or elsewhere).
  useEffect(() => {
    void load();
  }, [load, task.attachment_count]);

  function upload(files: FileList | File[]) {
    for (const file of Array.from(files)) {
      const key = ++uploadKey;
      const handle = uploadAttachment(taskId, file, (p) =>
        setUploads((all) => all.map((u) => (u.key === key ? { ...u, loaded: p.loaded, total: p.total } : u))),
      );
      setUploads((all) => [...all, { key, name: file.name, loaded: 0, total: file.size, error: null, abort: handle.abort }]);
      handle.done.then(
        (a) => {
          setUploads((all) => all.filter((u) => u.key !== key));
          toast.success(`“${a.filename}” uploaded`);
          void load();
          onChanged();
        },
        (e: unknown) => {
          const msg = isApiError(e) ? e.detail : String(e);
          setUploads((all) => all.map((u) => (u.key === key ? { ...u, error: msg } : u)));
        },
      );
    }
  }

  return (
    <section aria-labelledby="td-files" className="task-section">
      <h3 className="section-title" id="td-files">
        Attachments
      </h3>
      {error ? (
        <ErrorState error={error} onRetry={() => void load()} title="Could not load the attachments" />
      ) : !items ? (
        <Loading label="Loading attachments…" />
      ) : items.length === 0 ? (
        <p className="muted">No attachments.</p>
      ) : (
        <ul className="task-files" aria-label="Attachments">
          {items.map((a) => (
            <li key={a.id}>
              <a href={attachmentUrl(taskId, a.id)} download={a.filename} className="strong">
                {a.filename}
              </a>
              <span className="muted small">
                {formatBytes(a.size)} · {a.created_by ? `${a.created_by.username}, ` : ""}
                <span title={formatDateTime(a.created_at)}>{formatRelative(a.created_at)}</span>
              </span>
              {canEdit ? (
                <button type="button" className="btn btn-ghost btn-sm" aria-label={`Delete attachment ${a.filename}`} onClick={() => setRemoving(a)}>
                  Delete
                </button>
              ) : null}
            </li>
          ))}
        </ul>
      )}
      {uploads.map((u) => {
        const pct = u.total > 0 ? (u.loaded / u.total) * 100 : 0;
        return (
          <div key={u.key} className="task-upload" data-testid="upload">
            <div className="task-upload-head">
              <span className="strong">{u.name}</span>
              {u.error ? (
                <button type="button" className="btn btn-ghost btn-sm" onClick={() => setUploads((all) => all.filter((x) => x.key !== u.key))}>
                  Dismiss
                </button>
              ) : (
                <button type="button" className="btn btn-ghost btn-sm" onClick={u.abort} aria-label={`Cancel upload of ${u.name}`}>
                  Cancel
                </button>
              )}
            </div>
            {u.error ? (
              <p className="field-error" role="alert">
                {u.name}: {u.error}
              </p>
            ) : (
              <ProgressBar value={pct} status="running" label={`Uploading ${u.name}`} />
            )}
          </div>
        );
      })}
      {canEdit ? (
        <div
          className={`dropzone${dragOver ? " dropzone-over" : ""}`}
          data-testid="attachment-dropzone"
          onDragOver={(e) => {
            if (!Array.from(e.dataTransfer.types).includes("Files")) return;
            e.preventDefault();
            e.dataTransfer.dropEffect = "copy";
            setDragOver(true);
          }}
          onDragLeave={() => setDragOver(false)}
          onDrop={(e) => {
            e.preventDefault();
            setDragOver(false);
            if (e.dataTransfer.files.length > 0) upload(e.dataTransfer.files);
          }}
        >
          <span>Drop files here, or</span>
          <label className="btn btn-secondary btn-sm">
            choose a file
            <input
              ref={inputRef}
              type="file"
              className="sr-only"
              multiple
              aria-label="Upload attachments"
              onChange={(e) => {
                if (e.target.files && e.target.files.length > 0) upload(e.target.files);
                e.target.value = "";
              }}
            />
          </label>
        </div>
      ) : null}
      <ConfirmDialog
        open={removing != null}
        title={`Delete attachment “${removing?.filename ?? ""}”?`}
        confirmLabel="Delete attachment"
        onClose={() => setRemoving(null)}
        onConfirm={async () => {
          const a = removing!;
          await deleteAttachment(taskId, a.id);
          toast.success(`“${a.filename}” deleted`);
          void load();
          onChanged();
        }}
      >
        <p>
          <strong>{removing?.filename}</strong> ({formatBytes(removing?.size ?? 0)}) is removed from the task and from storage. This cannot be undone.
        </p>
      </ConfirmDialog>
    </section>
  );
}
