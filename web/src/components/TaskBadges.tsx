// Small views of a task's fields shared by the Tasks page, its drawer and the
// server page: priority and due-date badges (text, never colour alone) and
// label chips.
import type { Task, TaskPriority } from "../api/tasks";
import { dueState, formatDue } from "../lib/tasks";
import { Badge } from "./Badge";

const PRIORITY_TONE: Record<TaskPriority, "neutral" | "info" | "warning" | "danger"> = {
  low: "neutral",
  normal: "info",
  high: "warning",
  urgent: "danger",
};

export function PriorityBadge({ priority }: { priority: TaskPriority }) {
  return <Badge tone={PRIORITY_TONE[priority]}>{priority}</Badge>;
}

export function DueBadge({ task, today }: { task: Pick<Task, "due_date" | "completed">; today: string }) {
  if (!task.due_date) return <span className="muted">—</span>;
  const state = dueState(task, today);
  const text = formatDue(task.due_date);
  if (state === "overdue") return <Badge tone="danger">overdue · {text}</Badge>;
  if (state === "today") return <Badge tone="warning">today</Badge>;
  if (state === "soon") return <Badge tone="info">{text}</Badge>;
  return <span className={task.completed ? "muted" : undefined}>{text}</span>;
}

export function TaskLabels({ labels }: { labels: string[] }) {
  if (labels.length === 0) return null;
  return (
    <ul className="chip-list chip-list-tight" aria-label="Labels">
      {labels.map((l) => (
        <li key={l} className="chip">
          {l}
        </li>
      ))}
    </ul>
  );
}
