import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import type { Task, TaskPatch } from "../api/tasks";
import { emit, FakeApi, renderApp } from "../test/harness";
import { TasksPage } from "./TasksPage";

afterEach(() => vi.restoreAllMocks());

function task(over: Partial<Task> = {}): Task {
  return {
    id: 1,
    title: "Renew wildcard cert",
    description: "",
    priority: "normal",
    due_date: null,
    assignee: null,
    labels: [],
    completed: false,
    completed_at: null,
    position: 1024,
    links: [],
    attachment_count: 0,
    created_by: { id: 1, username: "olga" },
    version: 1,
    created_at: "2026-12-01T10:00:00Z",
    updated_at: "2026-12-01T10:00:00Z",
    ...over,
  };
}

/** A fake Tasks API over an in-memory list (manual order = array order). */
function tasksApi(initial: Task[]) {
  let tasks = [...initial];
  let nextId = 100;
  const fake = new FakeApi()
    .on("GET", "/api/v1/tasks", ({ params }) => {
      const q = (params?.query ?? {}) as { completed?: boolean; q?: string };
      return {
        items: tasks.filter((t) => (q.completed == null || t.completed === q.completed) && (!q.q || t.title.toLowerCase().includes(q.q.toLowerCase()))),
        next: null,
      };
    })
    .on("GET", "/api/v1/tasks/assignees", () => [{ id: 1, username: "olga", display_name: "Olga" }])
    .on("GET", "/api/v1/tasks/labels", () => [])
    .on("GET", "/api/v1/tasks/{id}", ({ params }) => tasks.find((t) => t.id === params?.path?.id))
    .on("GET", "/api/v1/tasks/{id}/attachments", () => [])
    .on("POST", "/api/v1/tasks", ({ body }) => {
      const t = task({ id: nextId++, title: (body as { title: string }).title });
      tasks = [...tasks, t];
      return t;
    })
    .on("PATCH", "/api/v1/tasks/{id}", ({ params, body }) => {
      const id = params?.path?.id;
      const cur = tasks.find((t) => t.id === id)!;
      const header = (params as { header?: Record<string, string> }).header;
      if (header?.["If-Match"] !== `"${cur.version}"`) throw new ApiError({ status: 412, code: "stale", detail: "changed since read" });
      const saved = { ...cur, ...(body as TaskPatch), version: cur.version + 1 } as Task;
      tasks = tasks.map((t) => (t.id === id ? saved : t));
      return saved;
    })
    .on("POST", "/api/v1/tasks/{id}/move", ({ params, body }) => {
      const id = params?.path?.id;
      const moving = tasks.find((t) => t.id === id)!;
      const rest = tasks.filter((t) => t.id !== id);
      const b = body as { after_id?: number; before_id?: number };
      const at = b.after_id != null ? rest.findIndex((t) => t.id === b.after_id) + 1 : rest.findIndex((t) => t.id === b.before_id);
      tasks = [...rest.slice(0, at), moving, ...rest.slice(at)];
      return moving;
    });
  return {
    fake,
    get tasks() {
      return tasks;
    },
    set(next: Task[]) {
      tasks = next;
    },
  };
}

const titles = () =>
  within(screen.getByRole("table", { name: "Tasks" }))
    .getAllByRole("row")
    .slice(1)
    .map((r) => r.getAttribute("aria-label"));

describe("Tasks page", () => {
  it("adds with Enter, completes with the checkbox and renames inline with If-Match", async () => {
    const api = tasksApi([task({ id: 1, title: "Renew wildcard cert" }), task({ id: 2, title: "Patch web-1", priority: "urgent" })]);
    renderApp(<TasksPage />, { fake: api.fake, path: "/tasks" });
    await screen.findByRole("table", { name: "Tasks" });
    expect(titles()).toEqual(["Renew wildcard cert", "Patch web-1"]);
    expect(api.fake.callsTo("GET", "/api/v1/tasks")[0].params).toEqual({ query: { completed: false, limit: 50 } });

    // Quick add.
    await userEvent.type(screen.getByLabelText("New task"), "Rotate SSH keys{Enter}");
    expect(await screen.findByText("Task “Rotate SSH keys” added")).toBeInTheDocument();
    expect(api.fake.callsTo("POST", "/api/v1/tasks")[0].body).toEqual({ title: "Rotate SSH keys" });
    await waitFor(() => expect(titles()).toEqual(["Renew wildcard cert", "Patch web-1", "Rotate SSH keys"]));
    expect(screen.getByLabelText("New task")).toHaveValue("");

    // Complete: the task leaves the open list.
    await userEvent.click(screen.getByRole("checkbox", { name: "Complete Patch web-1" }));
    expect(await screen.findByText("Task “Patch web-1” completed")).toBeInTheDocument();
    const patch = api.fake.callsTo("PATCH", "/api/v1/tasks/{id}")[0];
    expect(patch.params).toEqual({ path: { id: 2 }, header: { "If-Match": '"1"' } });
    expect(patch.body).toEqual({ completed: true });
    expect(titles()).toEqual(["Renew wildcard cert", "Rotate SSH keys"]);

    // Inline rename; Escape cancels, Enter saves.
    await userEvent.click(screen.getByRole("button", { name: "Edit title: Renew wildcard cert" }));
    const input = screen.getByRole("textbox", { name: "Title of Renew wildcard cert" });
    await userEvent.clear(input);
    await userEvent.type(input, "Nope{Escape}");
    expect(screen.queryByRole("textbox", { name: "Title of Renew wildcard cert" })).toBeNull();
    expect(api.fake.callsTo("PATCH", "/api/v1/tasks/{id}")).toHaveLength(1);

    await userEvent.click(screen.getByRole("button", { name: "Edit title: Renew wildcard cert" }));
    // Someone else edits the task meanwhile: the save gets 412, the row reloads.
    api.set(api.tasks.map((t) => (t.id === 1 ? { ...t, title: "Renew wildcard cert (prod)", version: 2 } : t)));
    const again = screen.getByRole("textbox", { name: "Title of Renew wildcard cert" });
    await userEvent.clear(again);
    await userEvent.type(again, "Renew *.example.com{Enter}");
    expect(await screen.findByRole("alert")).toHaveTextContent("Someone else changed this task while you were editing");
    const editor = screen.getByRole("textbox", { name: "Title of Renew wildcard cert (prod)" });
    expect(editor).toHaveValue("Renew *.example.com");
    await userEvent.type(editor, "{Enter}");
    expect(await screen.findByText("Task “Renew *.example.com” renamed")).toBeInTheDocument();
    const last = api.fake.callsTo("PATCH", "/api/v1/tasks/{id}").at(-1)!;
    expect(last.params).toEqual({ path: { id: 1 }, header: { "If-Match": '"2"' } });
    expect(last.body).toEqual({ title: "Renew *.example.com" });
  });

  it("keyboard: j/k select, x completes, Alt+↓ moves, ? shows the shortcuts; live events re-read", async () => {
    const api = tasksApi([task({ id: 1, title: "one" }), task({ id: 2, title: "two" }), task({ id: 3, title: "three" })]);
    const { hub } = renderApp(<TasksPage />, { fake: api.fake, path: "/tasks" });
    await screen.findByRole("table", { name: "Tasks" });

    await userEvent.keyboard("j");
    expect(screen.getByRole("row", { name: "one" })).toHaveFocus();
    await userEvent.keyboard("jk");
    expect(screen.getByRole("row", { name: "one" })).toHaveFocus();

    // Alt+↓ moves the focused task below "two" (after_id: 2).
    await userEvent.keyboard("{Alt>}{ArrowDown}{/Alt}");
    await waitFor(() => expect(api.fake.callsTo("POST", "/api/v1/tasks/{id}/move")).toHaveLength(1));
    expect(api.fake.callsTo("POST", "/api/v1/tasks/{id}/move")[0]).toMatchObject({ params: { path: { id: 1 } }, body: { after_id: 2 } });
    expect(titles()).toEqual(["two", "one", "three"]);
    expect(api.tasks.map((t) => t.title)).toEqual(["two", "one", "three"]);

    // Typing in a field is not a shortcut.
    await userEvent.click(screen.getByLabelText("New task"));
    await userEvent.keyboard("x");
    expect(api.fake.callsTo("PATCH", "/api/v1/tasks/{id}")).toHaveLength(0);
    expect(screen.getByLabelText("New task")).toHaveValue("x");

    // x completes the selected task.
    screen.getByRole("row", { name: "three" }).focus();
    await userEvent.keyboard("x");
    expect(await screen.findByText("Task “three” completed")).toBeInTheDocument();

    await userEvent.keyboard("?");
    const help = screen.getByRole("dialog", { name: "Keyboard shortcuts" });
    expect(within(help).getByText("Complete or reopen the selected task")).toBeInTheDocument();
    await userEvent.keyboard("{Escape}");
    expect(screen.queryByRole("dialog", { name: "Keyboard shortcuts" })).toBeNull();

    // Someone else adds a task: the list re-reads.
    api.set([...api.tasks, task({ id: 9, title: "from elsewhere" })]);
    emit(hub, "task.changed", { task_id: 9, change: "created", title: "from elsewhere" });
    await screen.findByRole("row", { name: "from elsewhere" });
  });

  it("drags a row onto another's lower half: moves it after that row", async () => {
    const api = tasksApi([task({ id: 1, title: "one" }), task({ id: 2, title: "two" }), task({ id: 3, title: "three" })]);
    renderApp(<TasksPage />, { fake: api.fake, path: "/tasks" });
    const row = await screen.findByRole("row", { name: "one" });
    const target = screen.getByRole("row", { name: "three" });
    vi.spyOn(target, "getBoundingClientRect").mockReturnValue({ top: 100, height: 40, bottom: 140, left: 0, right: 0, width: 0, x: 0, y: 100, toJSON: () => ({}) });
    const dataTransfer = { setData: vi.fn(), getData: () => "1", effectAllowed: "", dropEffect: "" };
    fireEvent.dragStart(row, { dataTransfer });
    fireEvent.dragOver(target, { dataTransfer, clientY: 130 });
    fireEvent.drop(target, { dataTransfer, clientY: 130 });
    await waitFor(() => expect(api.fake.callsTo("POST", "/api/v1/tasks/{id}/move")[0]?.body).toEqual({ after_id: 3 }));
    expect(titles()).toEqual(["two", "three", "one"]);
  });

  it("opens the drawer from ?task= with the description rendered safely", async () => {
    const api = tasksApi([task({ id: 4, title: "Check backups", description: "Run **restic check**<script>alert(1)</script>" })]);
    renderApp(<TasksPage />, { fake: api.fake, path: "/tasks?task=4" });
    const drawer = await screen.findByRole("dialog", { name: "Check backups" });
    const description = await within(drawer).findByLabelText("Rendered description");
    expect(description.querySelector("strong")).toHaveTextContent("restic check");
    expect(description.querySelector("script")).toBeNull();
    expect(description).toHaveTextContent("<script>alert(1)</script>");
    // Priority changes save at once, with If-Match.
    await userEvent.selectOptions(within(drawer).getByLabelText("Priority"), "high");
    await waitFor(() => expect(api.fake.callsTo("PATCH", "/api/v1/tasks/{id}")[0]?.body).toEqual({ priority: "high" }));
    expect(api.fake.callsTo("PATCH", "/api/v1/tasks/{id}")[0].params).toEqual({ path: { id: 4 }, header: { "If-Match": '"1"' } });
    await userEvent.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByRole("dialog", { name: "Check backups" })).toBeNull());
  });

  it("loads more with the cursor; a stale drawer edit reloads the task and says so", async () => {
    const api = tasksApi([task({ id: 1, title: "one" }), task({ id: 2, title: "two" }), task({ id: 3, title: "three" })]);
    api.fake.on("GET", "/api/v1/tasks", ({ params }) => {
      const q = (params?.query ?? {}) as { cursor?: string };
      return q.cursor === "c2" ? { items: api.tasks.slice(2), next: null } : { items: api.tasks.slice(0, 2), next: "c2" };
    });
    renderApp(<TasksPage />, { fake: api.fake, path: "/tasks" });
    await screen.findByRole("row", { name: "two" });
    expect(screen.queryByRole("row", { name: "three" })).toBeNull();
    await userEvent.click(screen.getByRole("button", { name: "Load more" }));
    await screen.findByRole("row", { name: "three" });
    expect(titles()).toEqual(["one", "two", "three"]);
    expect(api.fake.callsTo("GET", "/api/v1/tasks").at(-1)?.params).toEqual({ query: { completed: false, cursor: "c2", limit: 50 } });
    expect(screen.queryByRole("button", { name: "Load more" })).toBeNull();

    await userEvent.click(screen.getByRole("button", { name: "Open two" }));
    const drawer = await screen.findByRole("dialog", { name: "two" });
    await within(drawer).findByLabelText("Priority");
    // Someone else saves first: the drawer's version is stale.
    api.set(api.tasks.map((t) => (t.id === 2 ? { ...t, priority: "low", version: 5 } : t)));
    await userEvent.selectOptions(within(drawer).getByLabelText("Priority"), "urgent");
    expect(await within(drawer).findByText(/Someone else changed this task after you opened it/)).toBeInTheDocument();
    await waitFor(() => expect(within(drawer).getByLabelText("Priority")).toHaveValue("low"));
    expect(within(drawer).getByText("(version 5)")).toBeInTheDocument();
  });

  it("viewers read: no quick add, no checkboxes to tick, no dragging", async () => {
    const api = tasksApi([task({ id: 1, title: "one" })]);
    renderApp(<TasksPage />, { fake: api.fake, role: "viewer", path: "/tasks" });
    const row = await screen.findByRole("row", { name: "one" });
    expect(screen.queryByLabelText("New task")).toBeNull();
    expect(within(row).getByRole("checkbox", { name: "Complete one" })).toBeDisabled();
    expect(row).not.toHaveAttribute("draggable", "true");
    expect(within(row).queryByRole("button", { name: /Edit title/ })).toBeNull();
    await userEvent.keyboard("jx");
    expect(api.fake.callsTo("PATCH", "/api/v1/tasks/{id}")).toHaveLength(0);
  });
});
