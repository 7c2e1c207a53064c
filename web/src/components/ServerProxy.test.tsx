import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, type Job } from "../api/client";
import type { GenerationSummary, Plan, ProxyState } from "../api/proxy";
import { emit, FakeApi, renderApp } from "../test/harness";
import { ServerProxy } from "./ServerProxy";

const INSTALL = {
  conf_dir: "/etc/nginx",
  installed_at: "2026-01-01T00:00:00Z",
  installed_package: false,
  ipv6: true,
  nginx_version: "1.22.1",
  notes: ["no systemd: Gantry started nginx directly; make sure your init starts nginx at boot"],
  operator_directives: [],
  os_family: "debian",
  os_id: "debian",
  os_name: "Debian GNU/Linux 12 (bookworm)",
  pid_file: "/run/nginx.pid",
  status_port: 8089,
  systemd: false,
} as const;

const gen = (number: number, over: Partial<GenerationSummary> = {}): GenerationSummary => ({
  id: number * 10,
  number,
  server_id: 3,
  hash: `${number}abcdef0123456789`,
  status: "superseded",
  trigger: "auto",
  actor: "system:proxy",
  added: 0,
  changed: 0,
  removed: 0,
  created_at: "2026-01-01T00:00:00Z",
  ...over,
});

const state = (over: Partial<ProxyState> = {}): ProxyState => ({
  server_id: 3,
  server_name: "edge",
  status: "in_sync",
  install: { ...INSTALL, notes: [...INSTALL.notes], operator_directives: [] },
  live: gen(2, { status: "live" }),
  version: 1,
  updated_at: "2026-01-01T00:00:00Z",
  ...over,
});

const PLAN: Plan = {
  server_id: 3,
  live_number: 2,
  live_hash: "2abc",
  desired_hash: "3abc",
  reload_needed: true,
  awaiting_approval: ["shop"],
  domains: { added: [{ id: 5, name: "shop.example.test", group_id: 1 }], changed: [], removed: [{ id: 4, name: "old.example.test", group_id: 1 }] },
  diff: "--- a/group-1.conf\n+++ b/group-1.conf\n@@ -1,2 +1,2 @@\n server {\n-    listen 80;\n+    server_name shop.example.test;\n",
};

const job = (over: Partial<Job>): Job => ({ id: 41, kind: "proxy.install", status: "queued", progress: 0, message: null, log: [], result: null, error: null, ...over }) as unknown as Job;

afterEach(() => vi.restoreAllMocks());

describe("ServerProxy", () => {
  it("installs a proxy that is not installed and follows the job live", async () => {
    let current = state({ status: "not_installed", install: null, live: null });
    let jobNow = job({});
    const fake = new FakeApi()
      .on("GET", "/api/v1/servers/{id}/proxy", () => current)
      .on("GET", "/api/v1/servers/{id}/proxy/generations", () => ({ items: [], next: null }))
      .on("GET", "/api/v1/servers/{id}/proxy/plan", () => ({ ...PLAN, reload_needed: false, diff: "", awaiting_approval: [], domains: { added: [], changed: [], removed: [] } }))
      .on("POST", "/api/v1/servers/{id}/proxy/install", () => jobNow)
      .on("GET", "/api/v1/jobs/{id}", () => jobNow);
    const { hub } = renderApp(<ServerProxy serverId={3} serverName="edge" />, { fake });
    const badge = await screen.findByText("not installed");
    expect(badge).toHaveAttribute("data-status", "not_installed");
    expect(screen.queryByRole("heading", { name: "Pending changes" })).not.toBeInTheDocument();

    await userEvent.click(screen.getByRole("button", { name: "Install" }));
    expect(fake.callsTo("POST", "/api/v1/servers/{id}/proxy/install")[0].params).toEqual({ path: { id: 3 } });
    await screen.findByText("Installing the reverse proxy");
    emit(hub, "job.updated", { job_id: 41, kind: "proxy.install", status: "running", progress: 40, message: "nginx 1.22.1 is already installed" });
    expect(await screen.findByText("nginx 1.22.1 is already installed", { selector: ".log-message" })).toBeInTheDocument();
    expect(screen.getByRole("progressbar", { name: "Job 41 progress" })).toHaveAttribute("aria-valuenow", "40");

    current = state({ live: gen(1, { status: "live", trigger: "install" }) });
    jobNow = job({ status: "succeeded", progress: 100, message: "installed" });
    emit(hub, "job.updated", { job_id: 41, kind: "proxy.install", status: "succeeded", progress: 100, message: "installed" });
    expect(await screen.findByText("Reverse proxy installed on “edge”")).toBeInTheDocument();
    await waitFor(() => expect(screen.getByText("in sync")).toHaveAttribute("data-status", "in_sync"));
    expect(screen.getByText("Debian GNU/Linux 12 (bookworm)")).toBeInTheDocument();
    expect(screen.getByText("no systemd: Gantry starts nginx")).toBeInTheDocument();
    expect(screen.getByRole("list", { name: "Install notes" })).toHaveTextContent("boot");
  });

  it("shows the pending plan with its domains and highlighted diff, and applies it with a reason", async () => {
    const fake = new FakeApi()
      .on("GET", "/api/v1/servers/{id}/proxy", () => state({ status: "pending", status_message: "changes in shop wait for approval; see the plan" }))
      .on("GET", "/api/v1/servers/{id}/proxy/generations", () => ({ items: [gen(2, { status: "live" }), gen(1, { trigger: "install" })], next: null }))
      .on("GET", "/api/v1/servers/{id}/proxy/plan", () => PLAN)
      .on("POST", "/api/v1/servers/{id}/proxy/apply", () => job({ id: 42, kind: "proxy.apply", status: "queued" }))
      .on("GET", "/api/v1/jobs/{id}", () => job({ id: 42, kind: "proxy.apply", status: "running" }));
    renderApp(<ServerProxy serverId={3} serverName="edge" />, { fake });
    expect(await screen.findByTestId("awaiting-approval")).toHaveTextContent("Waiting for approval: shop.");
    expect(screen.getByRole("list", { name: "Added domains" })).toHaveTextContent("shop.example.test");
    expect(screen.getByRole("list", { name: "Removed domains" })).toHaveTextContent("old.example.test");
    const diff = screen.getByRole("region", { name: "Pending configuration diff" });
    expect(diff.querySelector(".cl-add .tok-directive")).toHaveTextContent("server_name");
    expect(diff.querySelector(".cl-del .tok-number")).toHaveTextContent("80");
    // Generations, newest first, linking to their pages.
    const table = screen.getByRole("table", { name: "Generations" });
    expect(within(table).getByRole("link", { name: "Generation 2" })).toHaveAttribute("href", "/servers/3/proxy/generations/2");

    await userEvent.click(screen.getByRole("button", { name: "Apply changes…" }));
    const dialog = screen.getByRole("dialog", { name: "Apply the pending changes to “edge”?" });
    await userEvent.type(within(dialog).getByLabelText("Reason"), "approved by ops");
    await userEvent.click(within(dialog).getByRole("button", { name: "Apply changes" }));
    await waitFor(() => expect(fake.callsTo("POST", "/api/v1/servers/{id}/proxy/apply")).toHaveLength(1));
    expect(fake.callsTo("POST", "/api/v1/servers/{id}/proxy/apply")[0].body).toEqual({ reason: "approved by ops" });
    expect(await screen.findByText("Applying the pending changes")).toBeInTheDocument();
  });

  it("shows drifted files with their diffs and re-applies with force", async () => {
    const drift = {
      checked_at: "2026-01-01T00:00:00Z",
      generation: 2,
      files: [{ path: "/etc/nginx/gantry/live/group-1.conf", kind: "changed", diff: "--- expected/group-1.conf\n+++ found/group-1.conf\n@@ -1 +1 @@\n-    listen 80;\n+    listen 81; # hand edit\n" }],
    };
    const fake = new FakeApi()
      .on("GET", "/api/v1/servers/{id}/proxy", () => state({ status: "drifted", drift }))
      .on("GET", "/api/v1/servers/{id}/proxy/generations", () => ({ items: [], next: null }))
      .on("GET", "/api/v1/servers/{id}/proxy/plan", () => ({ ...PLAN, reload_needed: false }))
      .on("POST", "/api/v1/servers/{id}/proxy/apply", () => job({ id: 43, kind: "proxy.apply" }))
      .on("GET", "/api/v1/jobs/{id}", () => job({ id: 43, kind: "proxy.apply", status: "running" }));
    renderApp(<ServerProxy serverId={3} serverName="edge" />, { fake });
    expect(await screen.findByRole("heading", { name: "Drift: 1 file differs from generation 2" })).toBeInTheDocument();
    expect(screen.getByRole("region", { name: "Drift of /etc/nginx/gantry/live/group-1.conf" }).querySelector(".cl-add .tok-comment")).toHaveTextContent("# hand edit");
    expect(screen.getByText(/Nothing pending: generation 2/)).toBeInTheDocument();

    await userEvent.click(screen.getByRole("button", { name: "Re-apply" }));
    const dialog = screen.getByRole("alertdialog", { name: "Re-apply the configuration to “edge”?" });
    expect(dialog).toHaveTextContent("overwritten");
    await userEvent.click(within(dialog).getByRole("button", { name: "Re-apply" }));
    await waitFor(() => expect(fake.callsTo("POST", "/api/v1/servers/{id}/proxy/apply")[0]?.body).toEqual({ reason: null, force: true }));
  });

  it("checks drift: reports a busy server, then a clean result", async () => {
    let busy = true;
    const fake = new FakeApi()
      .on("GET", "/api/v1/servers/{id}/proxy", () => state())
      .on("GET", "/api/v1/servers/{id}/proxy/generations", () => ({ items: [], next: null }))
      .on("GET", "/api/v1/servers/{id}/proxy/plan", () => ({ ...PLAN, reload_needed: false }))
      .on("POST", "/api/v1/servers/{id}/proxy/drift/check", () => {
        if (busy) throw new ApiError({ status: 409, code: "busy", detail: "another operation is running on this server" });
        return { checked_at: "2026-01-01T00:00:00Z", generation: 2, files: [] };
      });
    renderApp(<ServerProxy serverId={3} serverName="edge" />, { fake });
    await userEvent.click(await screen.findByRole("button", { name: "Check drift" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("another operation is running on this server");
    busy = false;
    await userEvent.click(screen.getByRole("button", { name: "Check drift" }));
    expect(await screen.findByText("No drift on “edge”: its files match generation 2")).toBeInTheDocument();
  });

  it("gives viewers no actions", async () => {
    const fake = new FakeApi()
      .on("GET", "/api/v1/servers/{id}/proxy", () => state())
      .on("GET", "/api/v1/servers/{id}/proxy/generations", () => ({ items: [], next: null }))
      .on("GET", "/api/v1/servers/{id}/proxy/plan", () => ({ ...PLAN, reload_needed: false }));
    renderApp(<ServerProxy serverId={3} serverName="edge" />, { fake, role: "viewer" });
    await screen.findByText("in sync");
    for (const name of ["Install", "Check drift", "Uninstall", "Apply changes…", "Re-apply"]) {
      expect(screen.queryByRole("button", { name })).not.toBeInTheDocument();
    }
  });
});
