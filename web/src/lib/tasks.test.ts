import { describe, expect, it } from "vitest";
import {
  canDeleteTask,
  dropIndex,
  dueState,
  filtersActive,
  formatBytes,
  isManualOrder,
  linkHref,
  linkName,
  parseLabels,
  planMove,
  shortcutFor,
  storageBody,
  storageForm,
  taskQuery,
  todayIso,
} from "./tasks";

const NO_FILTERS = { q: "", status: "", assignee: "", label: "", priority: "", due_after: "", due_before: "", sort: "" };
const rows = [1, 2, 3, 4].map((id) => ({ id }));

function key(key: string, target: EventTarget | null = document.body, mods: Partial<{ ctrlKey: boolean; metaKey: boolean; altKey: boolean }> = {}) {
  return shortcutFor({ key, target, ctrlKey: false, metaKey: false, altKey: false, ...mods });
}

describe("tasks: filters → query", () => {
  it("shows open tasks by default and leaves empty filters out", () => {
    expect(taskQuery(NO_FILTERS)).toEqual({ completed: false });
    expect(filtersActive(NO_FILTERS)).toBe(false);
    expect(taskQuery({ ...NO_FILTERS, status: "all" })).toEqual({});
    expect(taskQuery({ ...NO_FILTERS, status: "done" })).toEqual({ completed: true });
    expect(taskQuery({ ...NO_FILTERS, status: "bogus" })).toEqual({ completed: false });
  });

  it("maps every filter to the API's parameter", () => {
    expect(
      taskQuery({ q: "  nginx ", status: "all", assignee: "me", label: "tls", priority: "urgent", due_after: "2026-01-01", due_before: "2026-12-31", sort: "-due_date" }),
    ).toEqual({ q: "nginx", assignee: "me", label: "tls", priority: "urgent", due_after: "2026-01-01", due_before: "2026-12-31", sort: "-due_date" });
    expect(taskQuery({ ...NO_FILTERS, assignee: "none" })).toMatchObject({ assignee: "none" });
    expect(taskQuery({ ...NO_FILTERS, assignee: "7" })).toMatchObject({ assignee_id: 7 });
    // Nonsense from a hand-edited URL is not sent.
    expect(taskQuery({ ...NO_FILTERS, priority: "asap", due_before: "tomorrow", assignee: "x" })).toEqual({ completed: false });
    // The manual order is the default: no sort parameter.
    expect(taskQuery({ ...NO_FILTERS, sort: "position" })).toEqual({ completed: false });
    expect(filtersActive({ ...NO_FILTERS, status: "done" })).toBe(true);
    expect(filtersActive({ ...NO_FILTERS, sort: "-priority" })).toBe(false);
    expect(isManualOrder("")).toBe(true);
    expect(isManualOrder("-priority")).toBe(false);
  });
});

describe("tasks: manual order", () => {
  it("moves down: after the new upper neighbour", () => {
    const plan = planMove(rows, 1, 2);
    expect(plan?.list.map((r) => r.id)).toEqual([2, 3, 1, 4]);
    expect(plan?.target).toEqual({ after_id: 3 });
  });

  it("moves to the top: before the first row", () => {
    const plan = planMove(rows, 3, 0);
    expect(plan?.list.map((r) => r.id)).toEqual([3, 1, 2, 4]);
    expect(plan?.target).toEqual({ before_id: 1 });
  });

  it("moves to the bottom, clamps, and ignores no-ops", () => {
    expect(planMove(rows, 2, 99)?.target).toEqual({ after_id: 4 });
    expect(planMove(rows, 2, 1)).toBeNull();
    expect(planMove(rows, 1, -1)).toBeNull();
    expect(planMove(rows, 9, 0)).toBeNull();
  });

  it("turns a drop on a row's upper or lower half into the new index", () => {
    // Row 0 dropped on the lower half of row 2: it lands after 2, at index 2.
    expect(dropIndex(0, 2, false)).toBe(2);
    expect(planMove(rows, 1, dropIndex(0, 2, false))?.target).toEqual({ after_id: 3 });
    // Row 3 dropped on the upper half of row 0: the top.
    expect(dropIndex(3, 0, true)).toBe(0);
    expect(planMove(rows, 4, dropIndex(3, 0, true))?.target).toEqual({ before_id: 1 });
    // Row 3 dropped on the upper half of row 1: between 1 and 2.
    expect(planMove(rows, 4, dropIndex(3, 1, true))?.target).toEqual({ after_id: 1 });
    // Onto its own neighbour's near half: nothing moves.
    expect(planMove(rows, 2, dropIndex(1, 2, true))).toBeNull();
  });
});

describe("tasks: values", () => {
  it("parses labels as the API stores them and names the invalid ones", () => {
    expect(parseLabels("Web, tls  web", ["db"])).toEqual({ labels: ["db", "tls", "web"], invalid: [] });
    expect(parseLabels("ok, no/slash, " + "x".repeat(33))).toEqual({ labels: ["ok"], invalid: ["no/slash", "x".repeat(33)] });
    expect(parseLabels("  ")).toEqual({ labels: [], invalid: [] });
  });

  it("links to the object's page, or says it is gone", () => {
    expect(linkHref({ kind: "server", id: 5, name: "web-1" })).toBe("/servers/5");
    expect(linkHref({ kind: "domain_group", id: 2, name: "shop" })).toBe("/domains/groups/2");
    expect(linkHref({ kind: "domain", id: 9, name: "a.example" })).toBe("/domains/9/edit");
    expect(linkHref({ kind: "pve_stand", id: 4, name: "lab · alice" }, new Map([[4, 11]]))).toBe("/proxmox/deployments/11");
    expect(linkHref({ kind: "pve_stand", id: 4, name: "lab · alice" })).toBe("/proxmox/deployments");
    expect(linkHref({ kind: "server", id: 5, name: null })).toBeNull();
    expect(linkName({ kind: "server", id: 5, name: null })).toBe("(deleted)");
  });

  it("says how pressing a due date is", () => {
    const today = "2026-12-10";
    expect(dueState({ due_date: "2026-12-09", completed: false }, today)).toBe("overdue");
    expect(dueState({ due_date: "2026-12-10", completed: false }, today)).toBe("today");
    expect(dueState({ due_date: "2026-12-13", completed: false }, today)).toBe("soon");
    expect(dueState({ due_date: "2027-01-13", completed: false }, today)).toBe("later");
    expect(dueState({ due_date: "2026-12-01", completed: true }, today)).toBeNull();
    expect(dueState({ due_date: null, completed: false }, today)).toBeNull();
    expect(todayIso(new Date(2026, 0, 5))).toBe("2026-01-05");
  });

  it("formats sizes and knows who may delete", () => {
    expect(formatBytes(12)).toBe("12 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(20 * 1024 * 1024)).toBe("20 MiB");
    expect(canDeleteTask({ created_by: { id: 3, username: "olga" } }, { id: 3, role: "operator" })).toBe(true);
    expect(canDeleteTask({ created_by: { id: 3, username: "olga" } }, { id: 4, role: "operator" })).toBe(false);
    expect(canDeleteTask({ created_by: null }, { id: 1, role: "admin" })).toBe(true);
  });
});

describe("tasks: keyboard shortcuts", () => {
  it("maps keys to actions", () => {
    expect(["n", "/", "j", "k", "x", "e", "Delete", "#", "?", "Enter", "q"].map((k) => key(k))).toEqual([
      "focus-add",
      "focus-search",
      "next",
      "prev",
      "toggle",
      "edit",
      "delete",
      "delete",
      "help",
      "open",
      null,
    ]);
  });

  it("does nothing while typing, with modifiers, or for Enter on a button", () => {
    const input = document.createElement("input");
    const textarea = document.createElement("textarea");
    const select = document.createElement("select");
    const checkbox = document.createElement("input");
    checkbox.type = "checkbox";
    const button = document.createElement("button");
    const row = document.createElement("tr");
    expect(key("j", input)).toBeNull();
    expect(key("/", textarea)).toBeNull();
    expect(key("x", select)).toBeNull();
    expect(key("x", checkbox)).toBe("toggle");
    expect(key("n", document.body, { ctrlKey: true })).toBeNull();
    expect(key("k", document.body, { metaKey: true })).toBeNull();
    expect(key("Enter", button)).toBeNull();
    expect(key("Enter", row)).toBe("open");
  });
});

describe("tasks: attachment storage form", () => {
  const s3 = { bucket: "b-1", endpoint: "https://s3.lan", region: "eu-west-1", prefix: "p", access_key_id: "AK", allow_http: false, secret_set: true };

  it("starts from the view without the secret; us-east-1 when no S3 settings exist", () => {
    expect(storageForm({ kind: "local", max_bytes: 1, s3: null })).toMatchObject({ kind: "local", region: "us-east-1", bucket: "", secret_access_key: "" });
    expect(storageForm({ kind: "s3", max_bytes: 1, s3 })).toEqual({
      kind: "s3", bucket: "b-1", endpoint: "https://s3.lan", region: "eu-west-1", prefix: "p", access_key_id: "AK", secret_access_key: "", allow_http: false,
    });
  });

  it("local sends no s3; an empty secret is left out (kept), a typed one sent as is", () => {
    const f = storageForm({ kind: "s3", max_bytes: 1, s3 });
    expect(storageBody({ ...f, kind: "local" })).toEqual({ kind: "local" });
    expect(storageBody({ ...f, bucket: " b-1 " }).s3).toEqual({ bucket: "b-1", endpoint: "https://s3.lan", region: "eu-west-1", prefix: "p", access_key_id: "AK", allow_http: false });
    expect(storageBody({ ...f, secret_access_key: " x " }).s3?.secret_access_key).toBe(" x ");
  });
});
