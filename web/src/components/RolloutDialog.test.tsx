import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import type { ProxyState } from "../api/proxy";
import { FakeApi, renderApp } from "../test/harness";
import { RolloutDialog, rolloutBody } from "./RolloutDialog";

const INSTALL = { conf_dir: "/etc/nginx", nginx_version: "1.22.1", os_name: "Debian", systemd: true, notes: [] } as unknown as ProxyState["install"];
const st = (id: number, name: string, installed = true): ProxyState =>
  ({ server_id: id, server_name: name, status: installed ? "in_sync" : "not_installed", install: installed ? INSTALL : null, version: 1, updated_at: "2026-01-01T00:00:00Z" }) as ProxyState;
const STATES = [st(1, "edge-1"), st(2, "edge-2"), st(3, "fresh", false)];

afterEach(() => vi.restoreAllMocks());

describe("rolloutBody", () => {
  const base = { scope: "pending" as const, chosen: [1, 2], canary: "", max_parallel: "", max_failures: "", reason: "" };
  it("omits the servers for 'every server with pending changes' and empty fields", () => {
    expect(rolloutBody(base)).toEqual({});
    expect(rolloutBody({ ...base, scope: "chosen", canary: "2", max_parallel: "3", max_failures: "0", reason: " why " })).toEqual({
      server_ids: [1, 2],
      canary_server_id: 2,
      max_parallel: 3,
      max_failures: 0,
      reason: "why",
    });
  });
  it("rejects numbers the API could not parse, naming the field", () => {
    try {
      rolloutBody({ ...base, max_parallel: "two" });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ApiError);
      expect((e as ApiError).fieldError("max_parallel")).toBe("must be a whole number");
    }
  });
});

describe("RolloutDialog", () => {
  it("finds the servers with pending changes, lets the operator choose, and shows the API's field errors", async () => {
    let reject = true;
    const fake = new FakeApi()
      .on("GET", "/api/v1/servers/{id}/proxy/plan", ({ params }) => ({ reload_needed: params?.path?.id === 2 }))
      .on("POST", "/api/v1/proxy/rollouts", () => {
        if (reject) throw new ApiError({ status: 422, code: "validation_failed", detail: "invalid", errors: [{ field: "canary", message: "must be one of server_ids" }] });
        return { id: 9, targets: [{ server_id: 2 }, { server_id: 1 }] };
      });
    const created = vi.fn();
    renderApp(<RolloutDialog open states={STATES} onClose={() => {}} onCreated={created} />, { fake });
    const dialog = await screen.findByRole("dialog", { name: "Roll out pending changes" });
    await within(dialog).findByText("1 of 2 installed servers.");
    // Only installed servers were asked for their plan.
    expect(fake.callsTo("GET", "/api/v1/servers/{id}/proxy/plan").map((c) => (c.params as { path: { id: number } }).path.id)).toEqual([1, 2]);
    expect(within(dialog).getByRole("button", { name: "Start rollout (1 server)" })).toBeEnabled();

    await userEvent.click(within(dialog).getByRole("radio", { name: /Servers I choose/ }));
    expect(within(dialog).getByRole("checkbox", { name: "edge-2" })).toBeChecked(); // pre-selected: it has changes
    expect(within(dialog).queryByRole("checkbox", { name: "fresh" })).not.toBeInTheDocument();
    await userEvent.click(within(dialog).getByRole("checkbox", { name: "edge-1" }));
    await userEvent.selectOptions(within(dialog).getByLabelText("Canary"), "edge-2");
    await userEvent.type(within(dialog).getByLabelText("At once after the canary"), "2");
    await userEvent.click(within(dialog).getByRole("button", { name: "Start rollout (2 servers)" }));
    expect(await within(dialog).findByText("must be one of server_ids")).toBeInTheDocument();
    expect(within(dialog).getByLabelText("Canary")).toHaveAttribute("aria-invalid", "true");

    reject = false;
    await userEvent.click(within(dialog).getByRole("button", { name: "Start rollout (2 servers)" }));
    await waitFor(() => expect(created).toHaveBeenCalled());
    expect(fake.callsTo("POST", "/api/v1/proxy/rollouts").at(-1)!.body).toEqual({ server_ids: [2, 1], canary_server_id: 2, max_parallel: 2 });
  });
});
