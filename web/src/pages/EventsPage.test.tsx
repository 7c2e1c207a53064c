import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useLocation } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import type { EventLogEntry, EventQuery } from "../api/monitoring";
import { emit, FakeApi, renderApp } from "../test/harness";
import { EventsPage } from "./EventsPage";

afterEach(() => vi.restoreAllMocks());

let nextId = 100;
function entry(over: Partial<EventLogEntry> = {}): EventLogEntry {
  return {
    id: nextId++,
    at: new Date().toISOString(),
    severity: "error",
    module: "servers",
    kind: "server.down",
    entity_type: "server",
    entity_id: "3",
    entity_name: "edge-1",
    job_id: null,
    message: "edge-1 is unreachable: connection refused",
    details: { host: "127.0.0.1", port: 1 },
    ...over,
  };
}

function LocationProbe() {
  const l = useLocation();
  return <output data-testid="location">{l.pathname + l.search}</output>;
}

function page() {
  return (
    <>
      <EventsPage />
      <LocationProbe />
    </>
  );
}

const rows = () =>
  within(screen.getByRole("table", { name: "Events" }))
    .getAllByRole("row")
    .slice(1)
    .filter((r) => !r.classList.contains("row-detail"));

const lastQuery = (fake: FakeApi) => (fake.callsTo("GET", "/api/v1/monitoring/events").at(-1)!.params as { query: EventQuery }).query;

describe("Events page", () => {
  it("reads its filters from the URL and writes changes back; text is debounced", async () => {
    const fake = new FakeApi().on("GET", "/api/v1/monitoring/events", () => ({ items: [entry()], next: null }));
    const before = Date.now();
    renderApp(page(), { fake, path: "/monitoring/events?severity=error&module=servers,proxy&range=24h&entity_type=server&entity_id=3" });
    await screen.findByText("edge-1 is unreachable: connection refused");
    const q = lastQuery(fake);
    expect(q).toMatchObject({ module: "servers,proxy", severity: "error", entity_type: "server", entity_id: "3", limit: 50 });
    const since = new Date(q.since!).getTime();
    expect(since).toBeGreaterThanOrEqual(before - 86400_000 - 1000);
    expect(since).toBeLessThanOrEqual(Date.now() - 86400_000 + 1000);
    expect(screen.getByRole("checkbox", { name: "Servers" })).toBeChecked();
    expect(screen.getByRole("checkbox", { name: "Proxy" })).toBeChecked();
    expect(screen.getByRole("checkbox", { name: "Certificates" })).not.toBeChecked();
    expect(screen.getByLabelText("Severity")).toHaveValue("error");
    expect(screen.getByLabelText("Time range")).toHaveValue("24h");

    // Un-tick a module, pick a severity: the URL and the next request follow.
    await userEvent.click(screen.getByRole("checkbox", { name: "Proxy" }));
    await userEvent.selectOptions(screen.getByLabelText("Severity"), "warning");
    await waitFor(() => expect(lastQuery(fake)).toMatchObject({ module: "servers", severity: "warning" }));
    expect(screen.getByTestId("location").textContent).toContain("module=servers&");
    expect(screen.getByTestId("location").textContent).toContain("severity=warning");

    // Typing waits for a pause: one request for the whole word.
    const n = fake.callsTo("GET", "/api/v1/monitoring/events").length;
    await userEvent.type(screen.getByLabelText("Search"), "refused");
    await waitFor(() => expect(lastQuery(fake).q).toBe("refused"));
    expect(fake.callsTo("GET", "/api/v1/monitoring/events").length).toBe(n + 1);
    expect(screen.getByTestId("location").textContent).toContain("q=refused");

    // A custom range from a dashboard link: since stays as given; the custom fields show.
    await userEvent.selectOptions(screen.getByLabelText("Time range"), "custom");
    expect(screen.getByLabelText("From")).toBeInTheDocument();
    expect(screen.getByLabelText("Until")).toBeInTheDocument();

    await userEvent.click(screen.getByRole("button", { name: "Clear filters" }));
    await waitFor(() => expect(screen.getByTestId("location").textContent).toBe("/monitoring/events"));
    await waitFor(() => expect(lastQuery(fake)).toEqual({ limit: 50 }));
  });

  it("follows live: prepends new entries that match the filters, highlighted; pausing counts them instead", async () => {
    const first = entry({ id: 10, severity: "warning", kind: "server.check_failed", message: "check of edge-1 failed" });
    let items = [first];
    const fake = new FakeApi().on("GET", "/api/v1/monitoring/events", () => ({ items, next: null }));
    const { hub } = renderApp(page(), { fake, path: "/monitoring/events?severity=warning&module=servers" });
    await screen.findByText("check of edge-1 failed");
    expect(screen.getByRole("switch", { name: "Follow live" })).toBeChecked();

    // Too mild, other module: not shown.
    emit(hub, "event.recorded", entry({ id: 11, severity: "info", message: "edge-1 is up" }));
    emit(hub, "event.recorded", entry({ id: 12, module: "proxy", kind: "proxy.apply_failed", message: "apply failed on edge-1" }));
    // Matching: prepended and highlighted.
    emit(hub, "event.recorded", entry({ id: 13, message: "edge-1 is down" }));
    await screen.findByText("edge-1 is down");
    expect(screen.queryByText("edge-1 is up")).toBeNull();
    expect(screen.queryByText("apply failed on edge-1")).toBeNull();
    expect(rows().map((r) => within(r).getByText(/edge-1/, { selector: ".event-message" }).textContent)).toEqual(["edge-1 is down", "check of edge-1 failed"]);
    expect(rows()[0]).toHaveClass("row-new");
    expect(rows()[1]).not.toHaveClass("row-new");
    // The same entry twice (another replica, a refresh) shows once.
    emit(hub, "event.recorded", entry({ id: 13, message: "edge-1 is down" }));
    expect(screen.getAllByText("edge-1 is down")).toHaveLength(1);

    // Paused: counted, not shown; "Show new entries" re-reads the list.
    await userEvent.click(screen.getByRole("switch", { name: "Follow live" }));
    emit(hub, "event.recorded", entry({ id: 14, message: "edge-1 host key changed", severity: "warning" }));
    expect(await screen.findByText("1 new matching entry while paused.")).toBeInTheDocument();
    expect(screen.queryByText("edge-1 host key changed")).toBeNull();
    items = [entry({ id: 14, message: "edge-1 host key changed", severity: "warning" }), entry({ id: 13, message: "edge-1 is down" }), first];
    await userEvent.click(screen.getByRole("button", { name: "Show new entries" }));
    await screen.findByText("edge-1 host key changed");
    expect(screen.getByRole("switch", { name: "Follow live" })).toBeChecked();
  });

  it("shows 422 errors next to the filter they name", async () => {
    const fake = new FakeApi().on("GET", "/api/v1/monitoring/events", ({ params }) => {
      const q = params?.query as EventQuery;
      if (q.until && q.since && q.until <= q.since) throw new ApiError({ status: 422, code: "validation_failed", detail: "invalid", errors: [{ field: "until", message: "must be after since" }] });
      if (q.entity_id && !q.entity_type) throw new ApiError({ status: 422, code: "validation_failed", detail: "invalid", errors: [{ field: "entity_id", message: "needs entity_type" }] });
      return { items: [], next: null };
    });
    renderApp(page(), { fake, path: "/monitoring/events?since=2026-12-05T10:00:00.000Z&until=2026-12-05T09:00:00.000Z" });
    const until = await screen.findByLabelText("Until");
    await waitFor(() => expect(until).toHaveAttribute("aria-invalid", "true"));
    expect(screen.getByText("must be after since")).toBeInTheDocument();
    expect(screen.getByRole("alert")).toHaveTextContent("Check the highlighted filters.");
    expect(screen.getByRole("heading", { name: "These filters are not valid" })).toBeInTheDocument();

    await userEvent.click(screen.getByRole("button", { name: "Clear filters" }));
    await userEvent.type(screen.getByLabelText("Entity id"), "7");
    await screen.findByText("needs entity_type");
    expect(screen.getByLabelText("Entity id")).toHaveAttribute("aria-invalid", "true");
  });

  it("links each entry to its entity and job, and expands its details as JSON", async () => {
    const fake = new FakeApi()
      .on("GET", "/api/v1/monitoring/events", ({ params }) => (params?.query as EventQuery).cursor === "c1" ? { items: [entry({ id: 0, message: "older" })], next: null } : ({
        items: [
          entry({ id: 5, job_id: 42, message: "edge-1 is unreachable" }),
          entry({ id: 4, entity_type: "certificate", entity_id: "9", entity_name: "shop", module: "tls", kind: "certificate.renewal_failed", message: "renewal of shop failed", severity: "warning" }),
          entry({ id: 3, entity_type: "pve_deployment", entity_id: "2", entity_name: "course-1", module: "pve", kind: "pve.deploy_failed", message: "deployment failed" }),
          entry({ id: 2, entity_type: "user", entity_id: "1", entity_name: "olga", module: "auth", kind: "auth.login_failed", message: "sign-in failed", severity: "info" }),
          entry({ id: 1, entity_type: "job", entity_id: "77", entity_name: "servers.check", module: "jobs", kind: "job.failed", message: "job failed" }),
        ],
        next: "c1",
      }))
      .on("GET", "/api/v1/jobs/{id}", ({ params }) => ({ id: params?.path?.id, kind: "servers.check", status: "failed", progress: 100, created_at: "2026-12-01T00:00:00Z", log: [] }));
    renderApp(page(), { fake, role: "admin", path: "/monitoring/events" });
    await screen.findByText("edge-1 is unreachable");
    expect(screen.getByRole("link", { name: "edge-1" })).toHaveAttribute("href", "/servers/3");
    expect(screen.getByRole("link", { name: "shop" })).toHaveAttribute("href", "/certificates");
    expect(screen.getByRole("link", { name: "course-1" })).toHaveAttribute("href", "/proxmox/deployments/2");
    expect(screen.getByRole("link", { name: "olga" })).toHaveAttribute("href", "/users");
    expect(within(rows()[0]).getByText("error")).toHaveAttribute("data-severity", "error");

    await userEvent.click(screen.getByRole("button", { name: "Details of server.down #5" }));
    expect(screen.getByTestId("event-5-details").querySelector("pre")!.textContent).toBe(JSON.stringify({ host: "127.0.0.1", port: 1 }, null, 2));

    await userEvent.click(screen.getByRole("button", { name: "Open job 42" }));
    expect(await screen.findByRole("dialog", { name: /Job #42/ })).toBeInTheDocument();
    await userEvent.keyboard("{Escape}");
    await userEvent.click(screen.getByRole("button", { name: "Open job 77" }));
    expect(await screen.findByRole("dialog", { name: /Job #77/ })).toBeInTheDocument();
    await userEvent.keyboard("{Escape}");

    // Load more asks for the next page with the cursor.
    await userEvent.click(screen.getByRole("button", { name: "Load more" }));
    await screen.findByText("older");
    expect(lastQuery(fake).cursor).toBe("c1");
    expect(screen.queryByRole("button", { name: "Load more" })).toBeNull();
  });

  it("viewers get no user links and no log level", async () => {
    const fake = new FakeApi().on("GET", "/api/v1/monitoring/events", () => ({
      items: [entry({ id: 2, entity_type: "user", entity_id: "1", entity_name: "olga", module: "auth", kind: "auth.login", message: "signed in", severity: "info" })],
      next: null,
    }));
    renderApp(page(), { fake, role: "viewer", path: "/monitoring/events" });
    await screen.findByText("signed in");
    expect(screen.queryByRole("link", { name: "olga" })).toBeNull();
    expect(screen.queryByRole("heading", { name: "Log level" })).toBeNull();
    expect(fake.callsTo("GET", "/api/v1/system/log-level")).toHaveLength(0);
  });
});

describe("Log level (admins)", () => {
  it("shows the level in force and the configured one; a bad directive is shown under the field", async () => {
    let level = { level: "info", configured: "info" };
    const fake = new FakeApi()
      .on("GET", "/api/v1/monitoring/events", () => ({ items: [], next: null }))
      .on("GET", "/api/v1/system/log-level", () => level)
      .on("PUT", "/api/v1/system/log-level", ({ body }) => {
        const l = (body as { level: string }).level;
        if (!/^(error|warn|info|debug|trace)(,|$)/.test(l)) throw new ApiError({ status: 422, code: "validation_failed", detail: "invalid", errors: [{ field: "level", message: `invalid directive '${l}'` }] });
        level = { level: l, configured: "info" };
        return level;
      });
    renderApp(page(), { fake, role: "admin", path: "/monitoring/events" });
    expect(await screen.findByTestId("log-level-current")).toHaveTextContent("info");
    expect(screen.getByTestId("log-level-configured")).toHaveTextContent("info");
    const input = screen.getByLabelText("New level");
    await userEvent.clear(input);
    await userEvent.type(input, "loud");
    await userEvent.click(screen.getByRole("button", { name: "Set level" }));
    expect(await screen.findByText("invalid directive 'loud'")).toBeInTheDocument();
    expect(input).toHaveAttribute("aria-invalid", "true");

    await userEvent.clear(input);
    await userEvent.type(input, "debug,gantry_proxy=trace");
    await userEvent.click(screen.getByRole("button", { name: "Set level" }));
    expect(await screen.findByText("Log level set to “debug,gantry_proxy=trace”")).toBeInTheDocument();
    expect(screen.getByTestId("log-level-current")).toHaveTextContent("debug,gantry_proxy=trace");
    expect(fake.callsTo("PUT", "/api/v1/system/log-level").at(-1)!.body).toEqual({ level: "debug,gantry_proxy=trace" });
    await userEvent.click(screen.getByRole("button", { name: "Back to “info”" }));
    await waitFor(() => expect(screen.getByTestId("log-level-current")).toHaveTextContent(/^info$/));
  });

  it("says plainly when the process cannot change its level (409 not_supported)", async () => {
    const fake = new FakeApi()
      .on("GET", "/api/v1/monitoring/events", () => ({ items: [], next: null }))
      .on("GET", "/api/v1/system/log-level", () => {
        throw new ApiError({ status: 409, code: "not_supported", detail: "this process was started without a reloadable log subscriber" });
      });
    renderApp(page(), { fake, role: "admin", path: "/monitoring/events" });
    expect(await screen.findByTestId("log-level-unsupported")).toHaveTextContent("cannot change its log level while it runs");
    expect(screen.queryByLabelText("New level")).toBeNull();
  });
});
