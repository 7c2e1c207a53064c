// The server page's "Open tasks" card: the open tasks linked to this server
// (each opens in the Tasks page's drawer), and for operators "New task for
// this server", which creates a task linked to it.
import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router";
import { hasRole } from "../api/client";
import { useEvents } from "../api/events";
import { createTask, listTasks, type Task } from "../api/tasks";
import { useMe } from "../auth/AuthContext";
import { TextField, useFormErrors } from "./Form";
import { FormDialog } from "./FormDialog";
import { ErrorState, Loading } from "./States";
import { DueBadge, PriorityBadge } from "./TaskBadges";
import { useToast } from "./Toasts";
import { todayIso } from "../lib/tasks";

const SHOWN = 20;
const FIELDS = ["title"] as const;

export function ServerTasks({ serverId, serverName }: { serverId: number; serverName: string }) {
  const me = useMe();
  const canEdit = hasRole(me.role, "operator");
  const toast = useToast();
  const [tasks, setTasks] = useState<{ items: Task[]; more: boolean } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [creating, setCreating] = useState(false);
  const [title, setTitle] = useState("");
  const form = useFormErrors(FIELDS);

  const load = useCallback(async () => {
    try {
      const page = await listTasks({ link: `server:${serverId}`, completed: false, limit: SHOWN });
      setTasks({ items: page.items, more: page.next != null });
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [serverId]);

  useEffect(() => {
    setTasks(null);
    void load();
  }, [load]);

  useEvents("task.", () => void load());

  useEffect(() => {
    if (creating) setTitle("");
  }, [creating]);

  const today = todayIso();
  return (
    <section className="card" aria-labelledby="sd-tasks">
      <div className="card-head">
        <h2 className="card-title" id="sd-tasks">
          Open tasks
        </h2>
        {canEdit ? (
          <button type="button" className="btn btn-secondary btn-sm" onClick={() => setCreating(true)}>
            New task for this server
          </button>
        ) : null}
      </div>
      {error ? (
        <ErrorState error={error} onRetry={() => void load()} title="Could not load the tasks" />
      ) : !tasks ? (
        <Loading label="Loading tasks…" />
      ) : tasks.items.length === 0 ? (
        <p className="muted">No open tasks are linked to this server.</p>
      ) : (
        <ul className="server-tasks" aria-label={`Open tasks of ${serverName}`}>
          {tasks.items.map((t) => (
            <li key={t.id}>
              <Link to={`/tasks?task=${t.id}`}>{t.title}</Link>
              <PriorityBadge priority={t.priority} />
              {t.due_date ? <DueBadge task={t} today={today} /> : null}
              {t.assignee ? <span className="muted small">{t.assignee.username}</span> : null}
            </li>
          ))}
        </ul>
      )}
      {tasks && tasks.more ? (
        <p className="muted small">
          Showing the first {SHOWN}. See all on the <Link to="/tasks">Tasks</Link> page.
        </p>
      ) : null}
      <FormDialog
        open={creating}
        title={`New task for “${serverName}”`}
        onClose={() => setCreating(false)}
        form={form}
        onSubmit={async () => {
          const t = await createTask({ title: title.trim(), links: [{ kind: "server", id: serverId }] });
          setCreating(false);
          toast.success(`Task “${t.title}” added`);
          void load();
        }}
        submitLabel="Create task"
        busyLabel="Creating…"
        canSubmit={title.trim().length > 0}
      >
        <TextField label="Title" name="title" required autoComplete="off" value={title} onChange={(e) => setTitle(e.target.value)} error={form.fieldError("title")} hint="The task is linked to this server; edit the rest on the Tasks page." />
      </FormDialog>
    </section>
  );
}
