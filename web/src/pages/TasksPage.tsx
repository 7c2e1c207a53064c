// The Tasks page (/tasks): the team's task list. Quick add, complete/reopen,
// inline title edit (If-Match, 412 reloads the row), filters in the URL,
// "Load more" over the API's cursors, the manual order by drag and drop or
// Alt+↑/↓, keyboard shortcuts, live updates from `task.changed`, and the
// task's drawer (`?task=<id>`).
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { hasRole, isApiError } from "../api/client";
import { useEvents } from "../api/events";
import {
  createTask,
  getTask,
  listAssignees,
  listLabels,
  listTasks,
  moveTask,
  patchTask,
  deleteTask,
  PRIORITIES,
  type Task,
  type TaskChange,
  type TaskQuery,
} from "../api/tasks";
import { useMe } from "../auth/AuthContext";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { Dialog } from "../components/Dialog";
import { SelectField, TextField } from "../components/Form";
import { PageHeader } from "../components/Layout";
import { LoadMoreFooter } from "../components/LoadMoreFooter";
import { EmptyState, ErrorState, Loading, Spinner } from "../components/States";
import { PriorityBadge, DueBadge, TaskLabels } from "../components/TaskBadges";
import { TaskDrawer } from "../components/TaskDrawer";
import { TaskStorageDialog } from "../components/TaskStorageDialog";
import { useToast } from "../components/Toasts";
import {
  canDeleteTask,
  dropIndex,
  filtersActive,
  isManualOrder,
  planMove,
  shortcutFor,
  SHORTCUTS,
  SORTS,
  statusFilter,
  TASK_FILTERS,
  taskQuery,
  todayIso,
} from "../lib/tasks";
import { useDebounced } from "../lib/useDebounced";
import { useList } from "../lib/useList";
import { useLoadMoreList } from "../lib/useLoadMoreList";
import { useUrlFilters } from "../lib/useUrlFilters";

const PAGE_SIZE = 50;

function fetchTasks(query: TaskQuery, cursor: string | undefined, limit: number) {
  return listTasks({ ...query, cursor, limit });
}

/** A problem's text for a toast or an inline message. */
function problemText(e: unknown): string {
  return isApiError(e) ? e.detail : e instanceof Error ? e.message : String(e);
}

export function TasksPage() {
  const me = useMe();
  const canEdit = hasRole(me.role, "operator");
  const isAdmin = hasRole(me.role, "admin");
  const toast = useToast();
  const [f, setF] = useUrlFilters(TASK_FILTERS);
  const q = useDebounced(f.q.trim());
  const query = useMemo(
    () => taskQuery({ ...f, q }),
    // `f.task` (the open drawer) does not change the list.
    [q, f.status, f.assignee, f.label, f.priority, f.due_after, f.due_before, f.sort],
  );
  const list = useLoadMoreList(fetchTasks, query, PAGE_SIZE);
  const assignees = useList(listAssignees);
  const labels = useList(listLabels);
  const manual = isManualOrder(f.sort);
  const canDrag = canEdit && manual;
  const today = todayIso();

  const [selectedId, setSelectedId] = useState<number | null>(null);
  const [editing, setEditing] = useState<{ id: number; draft: string; error: string | null; busy: boolean } | null>(null);
  const [dragId, setDragId] = useState<number | null>(null);
  const [dropHint, setDropHint] = useState<{ id: number; before: boolean } | null>(null);
  const [deleting, setDeleting] = useState<Task | null>(null);
  const [helpOpen, setHelpOpen] = useState(false);
  const [storageOpen, setStorageOpen] = useState(false);
  const [newTitle, setNewTitle] = useState("");
  const [addError, setAddError] = useState<string | null>(null);
  const [adding, setAdding] = useState(false);

  const addRef = useRef<HTMLInputElement>(null);
  const searchRef = useRef<HTMLInputElement>(null);
  const rowRefs = useRef(new Map<number, HTMLTableRowElement>());
  const items = list.items;
  const openTaskId = /^\d+$/.test(f.task) ? Number(f.task) : null;

  const focusRow = useCallback((id: number) => {
    // After a re-render (a move re-orders the rows).
    requestAnimationFrame(() => rowRefs.current.get(id)?.focus());
  }, []);

  const replaceTask = useCallback((t: Task) => list.setItems((all) => all.map((x) => (x.id === t.id ? t : x))), [list.setItems]);
  const removeTask = useCallback((id: number) => list.setItems((all) => all.filter((x) => x.id !== id)), [list.setItems]);

  // Live updates: someone (or this page) changed a task. Bursts are read once.
  const refreshTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const { refresh } = list;
  const reloadLabels = labels.reload;
  useEvents("task.", (e) => {
    const p = e.payload as Partial<TaskChange>;
    if (p.change === "deleted" && typeof p.task_id === "number") removeTask(p.task_id);
    if (refreshTimer.current) clearTimeout(refreshTimer.current);
    refreshTimer.current = setTimeout(() => {
      refreshTimer.current = null;
      refresh();
      void reloadLabels();
    }, 150);
  });
  useEffect(() => () => {
    if (refreshTimer.current) clearTimeout(refreshTimer.current);
  }, []);

  const status = statusFilter(f.status);

  async function quickAdd(e: React.FormEvent) {
    e.preventDefault();
    const title = newTitle.trim();
    if (!title || adding) return;
    setAdding(true);
    setAddError(null);
    try {
      const t = await createTask({ title });
      setNewTitle("");
      toast.success(`Task “${t.title}” added`);
      list.refresh();
      void labels.reload();
    } catch (err) {
      setAddError(isApiError(err) ? err.fieldError("title") ?? err.detail : problemText(err));
    } finally {
      setAdding(false);
    }
  }

  async function reloadRow(id: number) {
    try {
      replaceTask(await getTask(id));
    } catch (e) {
      if (isApiError(e) && e.status === 404) removeTask(id);
    }
  }

  async function toggle(t: Task) {
    if (!canEdit) return;
    try {
      const saved = await patchTask(t.id, t.version, { completed: !t.completed });
      toast.success(`Task “${saved.title}” ${saved.completed ? "completed" : "reopened"}`);
      // It no longer matches the status filter: it leaves the list.
      if ((status === "open" && saved.completed) || (status === "done" && !saved.completed)) removeTask(saved.id);
      else replaceTask(saved);
    } catch (e) {
      if (isApiError(e) && e.code === "stale") {
        toast.error(`Task “${t.title}” was changed by someone else. The latest version is shown; try again.`);
        void reloadRow(t.id);
      } else toast.error(problemText(e));
    }
  }

  function startEdit(t: Task) {
    if (!canEdit) return;
    setSelectedId(t.id);
    setEditing({ id: t.id, draft: t.title, error: null, busy: false });
  }

  function cancelEdit() {
    const id = editing?.id;
    setEditing(null);
    if (id != null) focusRow(id);
  }

  async function saveEdit() {
    if (!editing || editing.busy || !items) return;
    const t = items.find((x) => x.id === editing.id);
    if (!t) return setEditing(null);
    const title = editing.draft.trim();
    if (title === t.title) return cancelEdit();
    setEditing({ ...editing, busy: true, error: null });
    try {
      const saved = await patchTask(t.id, t.version, { title });
      replaceTask(saved);
      setEditing(null);
      focusRow(saved.id);
      toast.success(`Task “${saved.title}” renamed`);
    } catch (e) {
      if (isApiError(e) && e.code === "stale") {
        // Keep the draft, load the latest version: Enter now saves over it.
        await reloadRow(t.id);
        setEditing((cur) =>
          cur && cur.id === t.id
            ? {
                ...cur,
                busy: false,
                error: "Someone else changed this task while you were editing. The latest version is loaded: press Enter to save your title over it, or Escape to cancel.",
              }
            : cur,
        );
      } else {
        const msg = isApiError(e) ? e.fieldError("title") ?? e.detail : problemText(e);
        setEditing((cur) => (cur && cur.id === t.id ? { ...cur, busy: false, error: msg } : cur));
      }
    }
  }

  async function move(id: number, toIndex: number) {
    if (!items || !canDrag) return;
    const plan = planMove(items, id, toIndex);
    if (!plan) return;
    const before = items;
    list.setItems(() => plan.list);
    focusRow(id);
    try {
      replaceTask(await moveTask(id, plan.target));
    } catch (e) {
      list.setItems(() => before);
      toast.error(`The task was not moved: ${problemText(e)}`);
      list.refresh();
    }
  }

  function openTask(id: number) {
    setSelectedId(id);
    setF({ task: String(id) });
  }

  function askDelete(t: Task) {
    if (!canDeleteTask(t, me)) {
      toast.info("Only the task's creator or an admin can delete it.");
      return;
    }
    setDeleting(t);
  }

  // Keyboard shortcuts (not while typing, not while a dialog is open).
  const shortcut = useRef<(e: KeyboardEvent) => void>(() => {});
  shortcut.current = (e: KeyboardEvent) => {
    if (e.defaultPrevented || openTaskId != null || helpOpen || storageOpen || deleting || document.querySelector(".overlay")) return;
    const action = shortcutFor(e);
    if (!action) return;
    const rows = items ?? [];
    const idx = rows.findIndex((t) => t.id === selectedId);
    const selected = idx >= 0 ? rows[idx] : null;
    switch (action) {
      case "focus-add":
        if (!addRef.current) return;
        addRef.current.focus();
        break;
      case "focus-search":
        searchRef.current?.focus();
        break;
      case "next":
      case "prev": {
        if (rows.length === 0) return;
        const to = idx < 0 ? 0 : Math.max(0, Math.min(rows.length - 1, idx + (action === "next" ? 1 : -1)));
        setSelectedId(rows[to].id);
        rowRefs.current.get(rows[to].id)?.focus();
        break;
      }
      case "toggle":
        if (!selected || !canEdit) return;
        void toggle(selected);
        break;
      case "open":
        if (!selected) return;
        openTask(selected.id);
        break;
      case "edit":
        if (!selected || !canEdit) return;
        startEdit(selected);
        break;
      case "delete":
        if (!selected) return;
        askDelete(selected);
        break;
      case "help":
        setHelpOpen(true);
        break;
    }
    e.preventDefault();
  };
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => shortcut.current(e);
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, []);

  function onRowKeyDown(e: React.KeyboardEvent<HTMLTableRowElement>, t: Task, index: number) {
    if (e.target !== e.currentTarget) return;
    if (e.key === "Enter") {
      e.preventDefault();
      openTask(t.id);
    } else if (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
      e.preventDefault();
      if (!canDrag) {
        if (canEdit) toast.info("Sort by “Manual order” to move tasks.");
        return;
      }
      void move(t.id, index + (e.key === "ArrowUp" ? -1 : 1));
    }
  }

  function onDragOver(e: React.DragEvent<HTMLTableRowElement>, t: Task) {
    if (dragId == null) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
    const rect = e.currentTarget.getBoundingClientRect();
    const before = e.clientY < rect.top + rect.height / 2;
    if (dropHint?.id !== t.id || dropHint.before !== before) setDropHint({ id: t.id, before });
  }

  function onDrop(e: React.DragEvent<HTMLTableRowElement>, t: Task, overIndex: number) {
    e.preventDefault();
    const id = dragId ?? Number(e.dataTransfer.getData("text/plain"));
    setDragId(null);
    setDropHint(null);
    if (!items || !id || id === t.id) return;
    const from = items.findIndex((x) => x.id === id);
    if (from < 0) return;
    const rect = e.currentTarget.getBoundingClientRect();
    const before = e.clientY < rect.top + rect.height / 2;
    void move(id, dropIndex(from, overIndex, before));
  }

  const filtered = filtersActive({ ...f, q: f.q.trim() });
  const assigneeOptions = [
    { value: "", label: "Anyone" },
    { value: "me", label: "Me" },
    { value: "none", label: "Unassigned" },
    ...(assignees.items ?? []).map((a) => ({ value: String(a.id), label: a.display_name ? `${a.display_name} (${a.username})` : a.username })),
  ];
  const labelOptions = [
    { value: "", label: "Any label" },
    ...(labels.items ?? []).map((l) => ({ value: l.label, label: `${l.label} (${l.count})` })),
    ...(f.label && !(labels.items ?? []).some((l) => l.label === f.label) ? [{ value: f.label, label: f.label }] : []),
  ];

  let body: React.ReactNode;
  if (list.error && !list.loading && !items) {
    body = <ErrorState error={list.error} onRetry={list.reload} title="Could not load the tasks" />;
  } else if (!items) {
    body = <Loading label="Loading tasks…" />;
  } else if (items.length === 0) {
    body = filtered ? (
      <EmptyState title="No tasks match these filters" icon="☰" action={<button type="button" className="btn btn-secondary" onClick={clearFilters}>Clear filters</button>} />
    ) : status === "open" ? (
      <EmptyState title="No open tasks" icon="☰">
        <p>{canEdit ? "Type a title above and press Enter to add one." : "Operators add tasks here; they appear as soon as they are created."}</p>
      </EmptyState>
    ) : (
      <EmptyState title="No tasks" icon="☰" />
    );
  } else {
    body = (
      <div className="table-scroll">
        <table className={`table task-table${dragId != null ? " task-table-dragging" : ""}`} aria-busy={list.loading || undefined}>
          <caption className="sr-only">Tasks</caption>
          <thead>
            <tr>
              {canDrag ? (
                <th scope="col" className="col-handle">
                  <span className="sr-only">Drag to reorder</span>
                </th>
              ) : null}
              <th scope="col" className="col-check">
                <span className="sr-only">Done</span>
              </th>
              <th scope="col">Task</th>
              <th scope="col">Priority</th>
              <th scope="col">Due</th>
              <th scope="col">Assignee</th>
              <th scope="col" className="col-actions">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody className={list.loading ? "tbody-loading" : undefined}>
            {items.map((t, index) => {
              const isEditing = editing?.id === t.id;
              const hint = dropHint?.id === t.id ? (dropHint.before ? " drop-before" : " drop-after") : "";
              return (
                <tr
                  key={t.id}
                  ref={(el) => {
                    if (el) rowRefs.current.set(t.id, el);
                    else rowRefs.current.delete(t.id);
                  }}
                  className={`row-clickable task-row${t.completed ? " task-done" : ""}${selectedId === t.id ? " row-selected" : ""}${dragId === t.id ? " row-dragging" : ""}${hint}`}
                  data-task-id={t.id}
                  aria-label={t.title}
                  tabIndex={0}
                  draggable={canDrag && !isEditing}
                  onFocus={(e) => {
                    if (e.target === e.currentTarget) setSelectedId(t.id);
                  }}
                  onClick={(e) => {
                    setSelectedId(t.id);
                    if ((e.target as HTMLElement).closest("button, a, input, select, label, textarea")) return;
                    openTask(t.id);
                  }}
                  onKeyDown={(e) => onRowKeyDown(e, t, index)}
                  onDragStart={(e) => {
                    if (!canDrag) return;
                    e.dataTransfer.effectAllowed = "move";
                    e.dataTransfer.setData("text/plain", String(t.id));
                    setDragId(t.id);
                  }}
                  onDragOver={(e) => onDragOver(e, t)}
                  onDragLeave={(e) => {
                    if (e.currentTarget === e.target && dropHint?.id === t.id) setDropHint(null);
                  }}
                  onDrop={(e) => onDrop(e, t, index)}
                  onDragEnd={() => {
                    setDragId(null);
                    setDropHint(null);
                  }}
                >
                  {canDrag ? (
                    <td className="col-handle">
                      <span className="drag-handle" aria-hidden="true" title="Drag to reorder (or Alt+↑/↓)">
                        ⠿
                      </span>
                    </td>
                  ) : null}
                  <td className="col-check">
                    <input
                      type="checkbox"
                      checked={t.completed}
                      disabled={!canEdit}
                      onChange={() => void toggle(t)}
                      aria-label={`${t.completed ? "Reopen" : "Complete"} ${t.title}`}
                    />
                  </td>
                  <td className="task-main">
                    {isEditing ? (
                      <div className="task-title-edit">
                        <input
                          className="input input-inline"
                          aria-label={`Title of ${t.title}`}
                          value={editing.draft}
                          autoFocus
                          disabled={editing.busy}
                          aria-invalid={editing.error ? true : undefined}
                          aria-describedby={editing.error ? `task-edit-error-${t.id}` : undefined}
                          onChange={(e) => setEditing({ ...editing, draft: e.target.value })}
                          onKeyDown={(e) => {
                            if (e.key === "Enter") {
                              e.preventDefault();
                              void saveEdit();
                            } else if (e.key === "Escape") {
                              e.preventDefault();
                              e.stopPropagation();
                              cancelEdit();
                            }
                          }}
                          onBlur={() => {
                            if (!editing.busy && !editing.error && editing.draft.trim() === t.title) setEditing(null);
                          }}
                        />
                        {editing.error ? (
                          <p id={`task-edit-error-${t.id}`} className="field-error" role="alert">
                            {editing.error}
                          </p>
                        ) : null}
                      </div>
                    ) : canEdit ? (
                      <button type="button" className="task-title" onClick={() => startEdit(t)} title="Edit the title (e)" aria-label={`Edit title: ${t.title}`}>
                        {t.title}
                      </button>
                    ) : (
                      <span className="task-title task-title-static">{t.title}</span>
                    )}
                    <div className="task-meta">
                      <TaskLabels labels={t.labels} />
                      {t.links.length > 0 ? (
                        <span className="muted small" title={t.links.map((l) => l.name ?? "(deleted)").join(", ")}>
                          {t.links.length} link{t.links.length === 1 ? "" : "s"}
                        </span>
                      ) : null}
                      {t.attachment_count > 0 ? (
                        <span className="muted small">
                          {t.attachment_count} file{t.attachment_count === 1 ? "" : "s"}
                        </span>
                      ) : null}
                    </div>
                  </td>
                  <td>
                    <PriorityBadge priority={t.priority} />
                  </td>
                  <td>
                    <DueBadge task={t} today={today} />
                  </td>
                  <td>{t.assignee ? t.assignee.username : <span className="muted">—</span>}</td>
                  <td className="col-actions">
                    <button type="button" className="btn btn-secondary btn-sm" onClick={() => openTask(t.id)} aria-label={`Open ${t.title}`}>
                      Open
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    );
  }

  function clearFilters() {
    setF({ q: "", status: "", assignee: "", label: "", priority: "", due_after: "", due_before: "" });
  }

  return (
    <>
      <PageHeader
        title="Tasks"
        description="The team's to-do list: what needs doing on the infrastructure, who does it and by when."
        actions={
          <>
            {isAdmin ? (
              <button type="button" className="btn btn-secondary" onClick={() => setStorageOpen(true)}>
                Attachment storage
              </button>
            ) : null}
            <button type="button" className="btn btn-secondary" onClick={() => setHelpOpen(true)} aria-keyshortcuts="?">
              Keyboard shortcuts
            </button>
          </>
        }
      />
      <div className="card">
        {canEdit ? (
          <form className="task-add" onSubmit={quickAdd} noValidate>
            <label htmlFor="task-quick-add" className="sr-only">
              New task
            </label>
            <input
              id="task-quick-add"
              ref={addRef}
              className="input"
              name="title"
              autoComplete="off"
              placeholder="Add a task: type a title and press Enter"
              value={newTitle}
              disabled={adding}
              aria-keyshortcuts="n"
              aria-invalid={addError ? true : undefined}
              aria-describedby={addError ? "task-quick-add-error" : undefined}
              onChange={(e) => {
                setNewTitle(e.target.value);
                if (addError) setAddError(null);
              }}
              onKeyDown={(e) => {
                if (e.key === "Escape") {
                  setNewTitle("");
                  e.currentTarget.blur();
                }
              }}
            />
            {adding ? <Spinner label="Adding task" /> : null}
            {addError ? (
              <p id="task-quick-add-error" className="field-error" role="alert">
                {addError}
              </p>
            ) : null}
          </form>
        ) : null}
        <form className="filters" role="search" aria-label="Filter tasks" onSubmit={(e) => e.preventDefault()}>
          <TextField
            ref={searchRef}
            label="Search"
            name="q"
            type="search"
            placeholder="Title or description"
            aria-keyshortcuts="/"
            value={f.q}
            onChange={(e) => setF({ q: e.target.value })}
          />
          <SelectField
            label="Status"
            name="status"
            value={status}
            onChange={(e) => setF({ status: e.target.value === "open" ? "" : e.target.value })}
            options={[
              { value: "open", label: "Open" },
              { value: "done", label: "Done" },
              { value: "all", label: "All" },
            ]}
          />
          <SelectField label="Assignee" name="assignee" value={f.assignee} onChange={(e) => setF({ assignee: e.target.value })} options={assigneeOptions} />
          <SelectField label="Label" name="label" value={f.label} onChange={(e) => setF({ label: e.target.value })} options={labelOptions} />
          <SelectField
            label="Priority"
            name="priority"
            value={f.priority}
            onChange={(e) => setF({ priority: e.target.value })}
            options={[{ value: "", label: "Any priority" }, ...PRIORITIES.map((p) => ({ value: p, label: p }))]}
          />
          <TextField label="Due after" name="due_after" type="date" value={f.due_after} onChange={(e) => setF({ due_after: e.target.value })} />
          <TextField label="Due before" name="due_before" type="date" value={f.due_before} onChange={(e) => setF({ due_before: e.target.value })} />
          <SelectField label="Sort" name="sort" value={f.sort || "position"} onChange={(e) => setF({ sort: e.target.value === "position" ? "" : e.target.value })} options={SORTS} />
          {filtered ? (
            <button type="button" className="btn btn-ghost filters-clear" onClick={clearFilters}>
              Clear filters
            </button>
          ) : null}
        </form>
        {canEdit && !manual ? (
          <p className="muted small task-order-hint">Sorted by {SORTS.find((s) => s.value === f.sort)?.label.toLowerCase() ?? f.sort}: choose “Manual order” to drag tasks.</p>
        ) : null}
        <div className="table-wrap">{body}</div>
        {items && items.length > 0 ? (
          <LoadMoreFooter
            list={list}
            label="More tasks"
            loadingLabel="Loading tasks"
            summary={`${items.length} task${items.length === 1 ? "" : "s"} shown${list.hasMore ? "; more below" : ""}`}
            note={list.error && items ? <span className="field-error">{problemText(list.error)}</span> : null}
          />
        ) : null}
      </div>

      <TaskDrawer
        taskId={openTaskId}
        onClose={() => {
          const id = openTaskId;
          setF({ task: "" });
          if (id != null) focusRow(id);
        }}
        onChanged={(t) => {
          replaceTask(t);
          void labels.reload();
        }}
        onDeleted={(id) => {
          removeTask(id);
          setF({ task: "" });
        }}
        assignees={assignees.items ?? []}
        knownLabels={(labels.items ?? []).map((l) => l.label)}
      />

      <ConfirmDialog
        open={deleting != null}
        title={`Delete task “${deleting?.title ?? ""}”?`}
        confirmLabel="Delete task"
        onClose={() => {
          const id = deleting?.id;
          setDeleting(null);
          if (id != null && rowRefs.current.has(id)) focusRow(id);
        }}
        onConfirm={async () => {
          const t = deleting!;
          await deleteTask(t.id);
          removeTask(t.id);
          toast.success(`Task “${t.title}” deleted`);
        }}
      >
        <p>
          <strong>{deleting?.title}</strong>
          {deleting && deleting.attachment_count > 0
            ? ` and its ${deleting.attachment_count} attachment${deleting.attachment_count === 1 ? "" : "s"} are deleted.`
            : " is deleted."}{" "}
          This cannot be undone.
        </p>
      </ConfirmDialog>

      {isAdmin ? <TaskStorageDialog open={storageOpen} onClose={() => setStorageOpen(false)} /> : null}

      <Dialog open={helpOpen} title="Keyboard shortcuts" onClose={() => setHelpOpen(false)} size="sm">
        <table className="table shortcut-table">
          <caption className="sr-only">Keyboard shortcuts of the Tasks page</caption>
          <thead>
            <tr>
              <th scope="col">Keys</th>
              <th scope="col">Does</th>
            </tr>
          </thead>
          <tbody>
            {SHORTCUTS.map((s) => (
              <tr key={s.action + s.keys.join("+")}>
                <td>
                  {s.keys.map((k, i) => (
                    <span key={k}>
                      {i > 0 ? " + " : null}
                      <kbd>{k}</kbd>
                    </span>
                  ))}
                </td>
                <td>{s.action}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <p className="muted small">Shortcuts do nothing while you type in a field.{canEdit ? "" : " Changing tasks needs the operator role."}</p>
      </Dialog>
    </>
  );
}

export default TasksPage;
