import { screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ProxyState, Rollout } from "../api/proxy";
import { emit, FakeApi, renderApp } from "../test/harness";
import { ProxyPage, rolloutProgress, statusCounts } from "./ProxyPage";

const st = (id: number, name: string, status: ProxyState["status"], live?: number): ProxyState =>
  ({
    server_id: id,
    server_name: name,
    status,
    install: status === "not_installed" ? null : { nginx_version: "1.22.1" },
    live: live ? { number: live, hash: "abcdef0123456789", trigger: "auto", finished_at: "2026-01-01T00:00:00Z" } : null,
    version: 1,
    updated_at: "2026-01-01T00:00:00Z",
  }) as unknown as ProxyState;

const rollout = (over: Partial<Rollout>): Rollout =>
  ({
    id: 7,
    status: "running",
    trigger: "manual",
    actor: "olga",
    reason: "new TLS options",
    max_parallel: 4,
    max_failures: 0,
    created_at: "2026-01-01T00:00:00Z",
    targets: [
      { server_id: 1, server_name: "edge-1", position: 0, status: "succeeded" },
      { server_id: 2, server_name: "edge-2", position: 1, status: "applying" },
      { server_id: 3, server_name: "edge-3", position: 2, status: "failed", error: "nginx -t failed" },
    ],
    ...over,
  }) as Rollout;

afterEach(() => vi.restoreAllMocks());

describe("proxy overview helpers", () => {
  it("counts statuses, problems first", () => {
    expect(statusCounts([st(1, "a", "in_sync"), st(2, "b", "drifted"), st(3, "c", "in_sync"), st(4, "d", "degraded")])).toEqual([
      { status: "degraded", count: 1 },
      { status: "drifted", count: 1 },
      { status: "in_sync", count: 2 },
    ]);
  });
  it("counts a rollout's finished servers", () => {
    expect(rolloutProgress(rollout({}))).toEqual({ done: 2, failed: 1, total: 3 });
  });
});

describe("ProxyPage", () => {
  it("lists every server's proxy and the rollouts, and re-reads them on proxy events", async () => {
    let states = [st(1, "edge-1", "in_sync", 4), st(2, "edge-2", "pending", 2), st(3, "fresh", "not_installed")];
    const fake = new FakeApi()
      .on("GET", "/api/v1/proxy/servers", () => states)
      .on("GET", "/api/v1/proxy/rollouts", () => ({ items: [rollout({})], next: null }));
    const { hub } = renderApp(<ProxyPage />, { fake });
    const table = await screen.findByRole("table", { name: "Proxy servers" });
    const row = (name: string) => within(table).getByRole("row", { name: new RegExp(name) });
    await within(table).findByText("edge-1");
    expect(within(row("edge-1")).getByRole("link", { name: "#4" })).toHaveAttribute("href", "/servers/1/proxy/generations/4");
    expect(within(row("edge-2")).getByText("changes pending")).toHaveAttribute("data-status", "pending");
    expect(within(row("fresh")).getByText("none")).toBeInTheDocument();
    expect(screen.getByRole("list", { name: "Proxy status counts" })).toHaveTextContent("1 pending");
    const rollouts = await screen.findByRole("table", { name: "Rollouts" });
    await within(rollouts).findByText("2 of 3 done");
    expect(within(rollouts).getByText("canary: edge-1")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Roll out pending changes" })).toBeEnabled();

    states = [st(1, "edge-1", "in_sync", 4), st(2, "edge-2", "in_sync", 3), st(3, "fresh", "not_installed")];
    emit(hub, "proxy.applied", { server_id: 2, number: 3, result: "live" });
    await waitFor(() => expect(within(row("edge-2")).getByRole("link", { name: "#3" })).toBeInTheDocument());
  });

  it("reads the status filter from the URL (a dashboard tile's link)", async () => {
    const fake = new FakeApi()
      .on("GET", "/api/v1/proxy/servers", () => [st(1, "edge-1", "in_sync", 4), st(2, "edge-2", "degraded", 2), st(3, "fresh", "not_installed")])
      .on("GET", "/api/v1/proxy/rollouts", () => ({ items: [], next: null }));
    renderApp(<ProxyPage />, { fake, path: "/proxy?status=degraded" });
    const table = await screen.findByRole("table", { name: "Proxy servers" });
    await within(table).findByText("edge-2");
    expect(within(table).queryByText("edge-1")).toBeNull();
    expect(within(table).queryByText("fresh")).toBeNull();
    expect(screen.getByLabelText("Status")).toHaveValue("degraded");
    // The counts still cover the whole fleet.
    expect(screen.getByRole("list", { name: "Proxy status counts" })).toHaveTextContent("1 in sync");
    screen.getByRole("button", { name: "Clear filters" }).click();
    await within(table).findByText("edge-1");
  });

  it("has no rollout button for viewers", async () => {
    const fake = new FakeApi()
      .on("GET", "/api/v1/proxy/servers", () => [])
      .on("GET", "/api/v1/proxy/rollouts", () => ({ items: [], next: null }));
    renderApp(<ProxyPage />, { fake, role: "viewer" });
    expect(await screen.findByRole("heading", { name: "No rollouts yet" })).toBeInTheDocument();
    expect(screen.getByRole("heading", { name: "No servers yet" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Roll out pending changes" })).not.toBeInTheDocument();
  });
});
