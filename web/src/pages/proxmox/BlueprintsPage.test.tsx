import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../../api/client";
import type { Blueprint, StoredBlueprint } from "../../api/pve";
import { FakeApi, renderApp } from "../../test/harness";
import { blueprint } from "../../test/pve";
import { BlueprintsPage } from "./BlueprintsPage";

afterEach(() => vi.restoreAllMocks());

describe("Proxmox blueprints", () => {
  it("imports YAML: errors name line and column; then the blueprint is listed", async () => {
    let list: StoredBlueprint[] = [];
    const fake = new FakeApi()
      .on("GET", "/api/v1/pve/blueprints", () => list)
      .on("POST", "/api/v1/pve/blueprints/import", ({ body }) => {
        const { yaml } = body as { yaml: string };
        if (yaml.includes("5000"))
          throw new ApiError({
            status: 422,
            code: "validation_failed",
            detail: "invalid",
            errors: [
              { field: "vms[0].networks", message: "line 8, column 15: 'hq.5000': the VLAN after '.' must be a number from 1 to 4094" },
              { field: "yaml", message: "line 2, column 1: unknown field `descr`" },
            ],
          });
        list = [blueprint({ spec: { ...blueprint().spec, name: "e2e-lab" } })];
        return list[0];
      });
    renderApp(<BlueprintsPage />, { fake });
    await screen.findByRole("heading", { name: "No blueprints yet" });
    await userEvent.click(screen.getByRole("button", { name: "Import YAML" }));
    const dialog = screen.getByRole("dialog", { name: "Import blueprint from YAML" });
    const yaml = within(dialog).getByLabelText("deployment_config.yml");
    await userEvent.click(yaml);
    await userEvent.paste("name: e2e-lab\nvms: [{key: web, template: debian-12, networks: [hq.5000]}]");
    await userEvent.click(within(dialog).getByRole("button", { name: "Import" }));
    await waitFor(() => expect(yaml).toHaveAttribute("aria-invalid", "true"));
    expect(yaml).toHaveAccessibleDescription(/vms\[0\]\.networks: line 8, column 15: 'hq\.5000'/);
    expect(yaml).toHaveAccessibleDescription(/line 2, column 1: unknown field `descr`/);
    await userEvent.clear(yaml);
    await userEvent.click(yaml);
    await userEvent.paste("name: e2e-lab\nvms: [{key: web, template: debian-12}]");
    await userEvent.click(within(dialog).getByLabelText("Replace the blueprint of the same name"));
    await userEvent.click(within(dialog).getByRole("button", { name: "Import" }));
    expect(await screen.findByText("Blueprint “e2e-lab” imported")).toBeInTheDocument();
    expect(fake.callsTo("POST", "/api/v1/pve/blueprints/import").at(-1)?.body).toEqual({ yaml: "name: e2e-lab\nvms: [{key: web, template: debian-12}]", replace: true });
    const row = await screen.findByRole("row", { name: /e2e-lab/ });
    expect(within(row).getByRole("link", { name: "Export e2e-lab as YAML" })).toHaveAttribute("href", "/api/v1/pve/blueprints/4/export");
    expect(within(row).getByRole("link", { name: "Deploy e2e-lab" })).toHaveAttribute("href", "/proxmox/deploy?blueprint=e2e-lab");
  });

  it("creates a blueprint in the form; a VM's field errors show on its row", async () => {
    const fake = new FakeApi().on("GET", "/api/v1/pve/blueprints", () => []).on("POST", "/api/v1/pve/blueprints", ({ body }) => {
      const b = body as Blueprint;
      if (b.vms.length > 1 && b.vms[1].networks?.includes("hq.5000"))
        throw new ApiError({ status: 422, code: "validation_failed", detail: "invalid", errors: [{ field: "vms[1].networks[0]", message: "the VLAN must be 1-4094" }] });
      return blueprint({ spec: b });
    });
    renderApp(<BlueprintsPage />, { fake });
    await userEvent.click(await screen.findByRole("button", { name: "New blueprint" }));
    const dialog = screen.getByRole("dialog", { name: "New blueprint" });
    await userEvent.type(within(dialog).getByLabelText("Name"), "net-lab");
    await userEvent.selectOptions(within(dialog).getByLabelText("Placement"), "spread");
    await userEvent.type(within(dialog).getByLabelText("VM 1 key"), "router");
    await userEvent.type(within(dialog).getByLabelText("VM 1 template"), "debian-12");
    await userEvent.type(within(dialog).getByLabelText("VM 1 networks"), "hq.100, lab");
    await userEvent.click(within(dialog).getByRole("button", { name: "Add VM" }));
    await userEvent.type(within(dialog).getByLabelText("VM 2 key"), "client");
    await userEvent.type(within(dialog).getByLabelText("VM 2 template"), "9001");
    await userEvent.type(within(dialog).getByLabelText("VM 2 memory (mib)"), "2048");
    await userEvent.type(within(dialog).getByLabelText("VM 2 networks"), "hq.5000");
    await userEvent.selectOptions(within(dialog).getByLabelText("VM 2 clone"), "full");
    await userEvent.click(within(dialog).getByLabelText("VM 2 start"));
    await userEvent.click(within(dialog).getByRole("button", { name: "Create blueprint" }));
    await waitFor(() => expect(within(dialog).getByLabelText("VM 2 networks")).toHaveAttribute("aria-invalid", "true"));
    expect(within(dialog).getByLabelText("VM 2 networks")).toHaveAccessibleDescription("the VLAN must be 1-4094");
    expect(within(dialog).getByLabelText("VM 1 networks")).not.toHaveAttribute("aria-invalid");
    await userEvent.clear(within(dialog).getByLabelText("VM 2 networks"));
    await userEvent.type(within(dialog).getByLabelText("VM 2 networks"), "hq.200");
    await userEvent.click(within(dialog).getByRole("button", { name: "Create blueprint" }));
    expect(await screen.findByText("Blueprint “net-lab” created")).toBeInTheDocument();
    expect(fake.callsTo("POST", "/api/v1/pve/blueprints").at(-1)?.body).toEqual({
      name: "net-lab",
      description: "",
      strategy: "spread",
      create_users: true,
      vms: [
        { key: "router", template: "debian-12", networks: ["hq.100", "lab"], clone: "linked", start: true },
        { key: "client", template: "9001", memory_mib: 2048, networks: ["hq.200"], clone: "full", start: false },
      ],
    });
  });

  it("is read-only for viewers (export only)", async () => {
    renderApp(<BlueprintsPage />, { fake: new FakeApi().on("GET", "/api/v1/pve/blueprints", () => [blueprint()]), role: "viewer" });
    const row = await screen.findByRole("row", { name: /net-lab/ });
    expect(within(row).getByRole("link", { name: "Export net-lab as YAML" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /New blueprint|Import YAML|Edit|Delete/ })).not.toBeInTheDocument();
    expect(screen.queryByRole("link", { name: /Deploy/ })).not.toBeInTheDocument();
  });
});
