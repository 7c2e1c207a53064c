import { screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { HealthSummary } from "../api/monitoring";
import { emit, FakeApi, renderApp } from "../test/harness";
import { HealthTiles } from "./HealthTiles";

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

function summary(over: Partial<HealthSummary> = {}): HealthSummary {
  return {
    at: "2026-12-06T09:00:00Z",
    servers: { counts: { ok: 3, unreachable: 2, auth_failed: 0, host_key_changed: 0, unknown: 0 } },
    proxies: { counts: { in_sync: 2, pending: 1, degraded: 1 } },
    certificates: { counts: { ok: 4, expiring_14: 1, renewal_failing: 0 } },
    jobs: { counts: { queued: 0, running: 1, failed: 2 } },
    stands: { counts: {}, error: "the Proxmox module is not part of this binary" },
    tasks: { counts: { open: 5, overdue: 0 } },
    events: { counts: { info: 10, warning: 0, error: 3 } },
    ...over,
  } as HealthSummary;
}

const tile = (id: string) => screen.getByTestId(`tile-${id}`);

describe("Health tiles", () => {
  it("show each area's counts, problems red or amber, each linking to its filtered list", async () => {
    const fake = new FakeApi().on("GET", "/api/v1/monitoring/summary", () => summary());
    renderApp(<HealthTiles />, { fake });
    await screen.findByTestId("tile-servers");

    expect(tile("servers")).toHaveAttribute("data-tone", "danger");
    expect(within(tile("servers")).getByText("5 servers")).toBeInTheDocument();
    expect(within(tile("servers")).getByRole("link", { name: "Servers: 2 unreachable" })).toHaveAttribute("href", "/servers?status=unreachable");
    expect(within(tile("servers")).getByRole("link", { name: "Servers: 3 ok" })).toHaveAttribute("href", "/servers?status=ok");
    expect(within(tile("servers")).getByRole("link", { name: "Servers" })).toHaveAttribute("href", "/servers");

    expect(tile("proxies")).toHaveAttribute("data-tone", "danger");
    expect(within(tile("proxies")).getByRole("link", { name: "Proxies: 1 degraded" })).toHaveAttribute("href", "/proxy?status=degraded");
    expect(within(tile("proxies")).getByRole("link", { name: "Proxies: 1 pending" })).toHaveAttribute("href", "/proxy?status=pending");

    expect(tile("certificates")).toHaveAttribute("data-tone", "warning");
    expect(within(tile("certificates")).getByRole("link", { name: "Certificates: 1 8–14 days left" })).toHaveAttribute("href", "/certificates?expiry=expiring_14");

    expect(tile("jobs")).toHaveAttribute("data-tone", "danger");
    expect(within(tile("jobs")).getByRole("link", { name: "Jobs: 2 failed" })).toHaveAttribute("href", "/jobs?status=failed");
    expect(within(tile("jobs")).getByRole("link", { name: "Jobs: 1 running" })).toHaveAttribute("href", "/jobs?status=running");

    // A tile the API could not fill shows why instead of numbers.
    expect(tile("stands")).toHaveAttribute("data-tone", "error");
    expect(within(tile("stands")).getByRole("note")).toHaveTextContent("the Proxmox module is not part of this binary");
    expect(within(tile("stands")).queryAllByRole("listitem")).toHaveLength(0);

    // No overdue task: a calm tile, the zero still shown and linked.
    expect(tile("tasks")).toHaveAttribute("data-tone", "ok");
    const overdue = within(tile("tasks")).getByRole("link", { name: "Tasks: 0 overdue" });
    expect(overdue.getAttribute("href")).toMatch(/^\/tasks\?due_before=\d{4}-\d{2}-\d{2}&sort=due_date$/);
    expect(overdue).toHaveClass("tone-zero");

    // Events: errors of the last 24 hours.
    expect(tile("events")).toHaveAttribute("data-tone", "danger");
    const errors = within(tile("events")).getByRole("link", { name: "Events (24 h): 3 errors" });
    const href = new URL(errors.getAttribute("href")!, "http://x");
    expect(href.pathname).toBe("/monitoring/events");
    expect(href.searchParams.get("severity")).toBe("error");
    const since = new Date(href.searchParams.get("since")!).getTime();
    expect(Math.abs(since - (Date.now() - 86400_000))).toBeLessThan(60_000);
  });

  it("re-reads the summary once for a burst of relevant events", async () => {
    let s = summary();
    const fake = new FakeApi().on("GET", "/api/v1/monitoring/summary", () => s);
    const { hub } = renderApp(<HealthTiles />, { fake });
    await screen.findByTestId("tile-servers");
    expect(fake.callsTo("GET", "/api/v1/monitoring/summary")).toHaveLength(1);
    s = summary({ servers: { counts: { ok: 5 } } });
    emit(hub, "server.status_changed", { server_id: 1 });
    emit(hub, "event.recorded", { id: 1 });
    emit(hub, "job.updated", { job_id: 1, status: "running" });
    emit(hub, "domain.changed", {});
    await waitFor(() => expect(tile("servers")).toHaveAttribute("data-tone", "ok"), { timeout: 3000 });
    expect(fake.callsTo("GET", "/api/v1/monitoring/summary")).toHaveLength(2);
    expect(within(tile("servers")).getByText("5 servers")).toBeInTheDocument();
  });

  it("shows an error state with Retry when the summary fails", async () => {
    const fake = new FakeApi();
    renderApp(<HealthTiles />, { fake });
    expect(await screen.findByRole("heading", { name: "Could not load the health summary" })).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Retry" })).toBeInTheDocument();
  });
});
