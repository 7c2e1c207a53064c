import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { Route, Routes } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../../api/client";
import type { StandRequest } from "../../api/pve";
import { FakeApi, renderApp } from "../../test/harness";
import { blueprint, cluster, deployment, job, plan } from "../../test/pve";
import { DeploymentPage } from "./DeploymentPage";
import { DeployPage } from "./DeployPage";

afterEach(() => vi.restoreAllMocks());

function fakeApi() {
  return new FakeApi()
    .on("GET", "/api/v1/pve/clusters", () => [cluster(), cluster({ id: 2, name: "prod" })])
    .on("GET", "/api/v1/pve/blueprints", () => [blueprint(), blueprint({ id: 5, spec: { ...blueprint().spec, name: "e2e-lab" } })])
    .on("POST", "/api/v1/pve/stands/plan", ({ body }) => {
      const b = body as StandRequest;
      const bad = b.users.findIndex((u) => !u.includes("@"));
      if (bad >= 0) throw new ApiError({ status: 422, code: "validation_failed", detail: "invalid", errors: [{ field: `users[${bad}]`, message: "a user is name@realm" }] });
      return plan();
    })
    .on("POST", "/api/v1/pve/stands/deploy", () => ({ deployment: deployment(), plan: plan(), job: job() }))
    .on("GET", "/api/v1/pve/deployments/{id}", () => deployment())
    .on("GET", "/api/v1/jobs/{id}", () => job());
}

const ui = (
  <Routes>
    <Route path="/proxmox/deploy" element={<DeployPage />} />
    <Route path="/proxmox/deployments/:id" element={<DeploymentPage />} />
  </Routes>
);

describe("Deploy wizard", () => {
  it("plans (per user: VM → node, VMID, clone mode; warnings, network changes, node scores), then deploys", async () => {
    const fake = fakeApi();
    renderApp(ui, { fake, path: "/proxmox/deploy?blueprint=e2e-lab" });
    const users = await screen.findByLabelText("Users");
    expect(screen.getByLabelText("Blueprint")).toHaveValue("e2e-lab");
    expect(screen.getByLabelText("Cluster")).toHaveValue("1");
    await userEvent.type(users, "student1@pve\nstudent2");
    await userEvent.click(screen.getByRole("button", { name: "Plan" }));
    // A bad user line: the error names it.
    await waitFor(() => expect(users).toHaveAccessibleDescription("student2: a user is name@realm"));
    expect(screen.queryByTestId("pve-plan")).not.toBeInTheDocument();

    await userEvent.type(users, "@pve");
    await userEvent.click(screen.getByRole("button", { name: "Plan" }));
    const planned = await screen.findByTestId("pve-plan");
    expect(fake.callsTo("POST", "/api/v1/pve/stands/plan").at(-1)?.body).toEqual({ cluster_id: 1, blueprint: "e2e-lab", users: ["student1@pve", "student2@pve"] });
    expect(planned).toHaveTextContent("2 users, 2 VMs, strategy balanced");
    expect(within(planned).getByRole("region", { name: "Warnings" })).toHaveTextContent("node pve3 is offline");
    expect(planned).toHaveTextContent("pve2: make VLAN-aware hq");

    const s1 = within(planned).getByRole("table", { name: "Plan for student1@pve" });
    const r1 = within(s1).getByRole("row", { name: /student1-web/ });
    expect(r1).toHaveTextContent("pve2");
    expect(r1).toHaveTextContent("10000");
    expect(r1).toHaveTextContent("linked");
    expect(r1).toHaveTextContent("from 9000 on pve1");
    const r2 = within(within(planned).getByRole("table", { name: "Plan for student2@pve" })).getByRole("row", { name: /student2-web/ });
    expect(r2).toHaveTextContent("full");
    expect(r2).toHaveTextContent("not a template");

    // Every node's score for one VM, the chosen one marked, the excluded with why.
    await userEvent.click(within(s1).getByRole("button", { name: "Node scores for student1-web" }));
    const scores = screen.getByRole("table", { name: "Node scores for student1-web" });
    expect(within(scores).getByRole("row", { name: /pve2/ })).toHaveTextContent("chosen");
    expect(within(scores).getByRole("row", { name: /pve2/ })).toHaveTextContent("21%");
    expect(within(scores).getByRole("row", { name: /pve3/ })).toHaveTextContent("node is offline");

    // Changing the inputs asks for a new plan.
    await userEvent.selectOptions(screen.getByLabelText("Cluster"), "2");
    expect(screen.getByRole("button", { name: "Deploy 2 stands" })).toBeDisabled();
    expect(screen.getByText(/The inputs changed since this plan/)).toBeInTheDocument();
    await userEvent.selectOptions(screen.getByLabelText("Cluster"), "1");

    await userEvent.click(screen.getByRole("button", { name: "Deploy 2 stands" }));
    // The deployment opens, with its job's progress.
    expect(await screen.findByRole("heading", { name: "Deployment #7: net-lab" })).toBeInTheDocument();
    expect(fake.callsTo("POST", "/api/v1/pve/stands/deploy")[0].body).toEqual({ cluster_id: 1, blueprint: "e2e-lab", users: ["student1@pve", "student2@pve"] });
    expect(screen.getByRole("progressbar", { name: "Job 42 progress" })).toHaveAttribute("aria-valuenow", "40");
    expect(screen.getByText("student1@pve / web: cloning")).toBeInTheDocument();
  });

  it("refuses to deploy a plan with errors", async () => {
    const fake = fakeApi().on("POST", "/api/v1/pve/stands/plan", () => plan({ errors: ["template 'debian-12' does not exist on the cluster"] }));
    renderApp(ui, { fake, path: "/proxmox/deploy" });
    await userEvent.type(await screen.findByLabelText("Users"), "student1@pve");
    await userEvent.click(screen.getByRole("button", { name: "Plan" }));
    expect(await screen.findByRole("region", { name: "Plan errors" })).toHaveTextContent("does not exist");
    expect(screen.getByRole("button", { name: "Deploy 2 stands" })).toBeDisabled();
  });
});
