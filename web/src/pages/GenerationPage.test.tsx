import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Job } from "../api/client";
import { canRollBackTo, type GenerationDetail } from "../api/proxy";
import { emit, FakeApi, renderApp } from "../test/harness";
import { GenerationPage } from "./GenerationPage";

const ROUTE = "/servers/:id/proxy/generations/:number";

const detail = (over: Partial<GenerationDetail>): GenerationDetail => ({
  id: 10,
  number: 1,
  server_id: 3,
  hash: "abcdef0123456789abcdef",
  status: "superseded",
  trigger: "install",
  actor: "olga",
  added: 1,
  changed: 0,
  removed: 0,
  created_at: "2026-01-01T00:00:00Z",
  finished_at: "2026-01-01T00:00:01Z",
  changes: { added: [{ id: 5, name: "shop.example.test", group_id: 1 }], changed: [], removed: [] },
  diff: "--- /dev/null\n+++ b/group-1.conf\n@@ -0,0 +1,2 @@\n+server {\n+}\n",
  files: { "group-1.conf": "server {\n    listen 80;\n}\n", "00-gantry.conf": "# Managed by Gantry.\n" },
  timings: { render_ms: 2, stage_ms: 120, switch_ms: 80, verify_ms: 40, total_ms: 242 },
  ...over,
});

const proxyState = (live: number) => ({ server_id: 3, server_name: "edge", status: "in_sync", live: { number: live }, version: 1, updated_at: "2026-01-01T00:00:00Z" });

afterEach(() => vi.restoreAllMocks());

describe("canRollBackTo", () => {
  it("allows generations that served, except the live one", () => {
    expect(canRollBackTo({ status: "superseded", number: 1 }, 2)).toBe(true);
    expect(canRollBackTo({ status: "live", number: 2 }, 2)).toBe(false);
    expect(canRollBackTo({ status: "failed", number: 3 }, 2)).toBe(false);
    expect(canRollBackTo({ status: "interrupted", number: 3 }, 2)).toBe(false);
  });
});

describe("GenerationPage", () => {
  it("shows a failed generation's nginx output and offers no rollback to it", async () => {
    const fake = new FakeApi()
      .on("GET", "/api/v1/servers/{id}/proxy/generations/{number}", () =>
        detail({ number: 3, status: "failed", trigger: "auto", error: "nginx -t rejected the configuration", nginx_output: 'nginx: [emerg] unknown directive "bogus"' }),
      )
      .on("GET", "/api/v1/servers/{id}/proxy", () => proxyState(2))
      .on("GET", "/api/v1/servers/{id}", () => ({ id: 3, name: "edge" }));
    renderApp(<GenerationPage />, { fake, path: "/servers/3/proxy/generations/3", route: ROUTE });
    expect(await screen.findByRole("heading", { name: "Generation 3", level: 1 })).toBeInTheDocument();
    await screen.findByRole("heading", { name: "Summary" });
    expect(screen.getByRole("heading", { name: "Why it failed" })).toBeInTheDocument();
    expect(screen.getByTestId("nginx-output")).toHaveTextContent('unknown directive "bogus"');
    expect(screen.queryByRole("button", { name: "Roll back to this generation" })).not.toBeInTheDocument();
    expect(screen.getByTestId("timings")).toHaveTextContent("242 ms");
  });

  it("rolls back to a superseded generation with a reason and follows the job", async () => {
    let live = 2;
    let jobNow = { id: 50, kind: "proxy.apply", status: "queued", progress: 0, message: null, log: [], result: null, error: null } as unknown as Job;
    const fake = new FakeApi()
      .on("GET", "/api/v1/servers/{id}/proxy/generations/{number}", () => detail({}))
      .on("GET", "/api/v1/servers/{id}/proxy", () => proxyState(live))
      .on("GET", "/api/v1/servers/{id}", () => ({ id: 3, name: "edge" }))
      .on("POST", "/api/v1/servers/{id}/proxy/generations/{number}/rollback", () => jobNow)
      .on("GET", "/api/v1/jobs/{id}", () => jobNow);
    const { hub } = renderApp(<GenerationPage />, { fake, path: "/servers/3/proxy/generations/1", route: ROUTE });
    await screen.findByRole("heading", { name: "Generation 1", level: 1 });
    await screen.findByRole("heading", { name: "Summary" });
    expect(screen.getByRole("list", { name: "Added domains" })).toHaveTextContent("shop.example.test");
    expect(screen.getByRole("region", { name: "Diff of generation 1" }).querySelector(".cl-add .tok-directive")).toHaveTextContent("server");
    // Files start collapsed, highlighted inside.
    const files = screen.getAllByText(/\.conf$/, { selector: "summary .mono" }).map((e) => e.textContent);
    expect(files).toEqual(["00-gantry.conf", "group-1.conf"]);

    await userEvent.click(screen.getByRole("button", { name: "Roll back to this generation" }));
    const confirm = screen.getByRole("alertdialog", { name: "Roll back “edge” to generation 1?" });
    expect(confirm).toHaveTextContent("generation 2 is live now");
    await userEvent.type(within(confirm).getByLabelText("Reason"), "bad deploy");
    await userEvent.click(within(confirm).getByRole("button", { name: "Roll back" }));
    await waitFor(() => expect(fake.callsTo("POST", "/api/v1/servers/{id}/proxy/generations/{number}/rollback")).toHaveLength(1));
    expect(fake.callsTo("POST", "/api/v1/servers/{id}/proxy/generations/{number}/rollback")[0]).toMatchObject({
      params: { path: { id: 3, number: 1 } },
      body: { reason: "bad deploy" },
    });
    await screen.findByText("Rolling back to generation 1");

    live = 3;
    jobNow = { ...jobNow, status: "succeeded", progress: 100 } as Job;
    emit(hub, "job.updated", { job_id: 50, kind: "proxy.apply", status: "succeeded", progress: 100, message: "generation 3 is live" });
    expect(await screen.findByTestId("rollback-result")).toHaveTextContent("Generation 3 is live");
    expect(within(screen.getByTestId("rollback-result")).getByRole("link", { name: "3" })).toHaveAttribute("href", "/servers/3/proxy/generations/3");
  });
});
