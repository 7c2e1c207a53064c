import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { DeploymentView } from "../../api/pve";
import { emit, FakeApi, renderApp } from "../../test/harness";
import { cluster, deployment, job, standView, vmView } from "../../test/pve";
import { DeploymentPage } from "./DeploymentPage";

afterEach(() => vi.restoreAllMocks());

const DONE: DeploymentView = deployment({
  status: "done",
  counts: { ready: 2 },
  stands: [
    standView({ status: "ready", password_pending: true, vms: [vmView({ status: "ready" })] }),
    standView({ id: 2, user: "student2@pve", pool: "gantry-student2-pve", status: "ready", password_pending: true, vms: [vmView({ id: 2, name: "student2-web", node: "pve1", vmid: 10001, status: "ready" })] }),
  ],
});

function fakeApi(get: () => DeploymentView) {
  return new FakeApi()
    .on("GET", "/api/v1/pve/clusters", () => [cluster()])
    .on("GET", "/api/v1/pve/deployments/{id}", get)
    .on("GET", "/api/v1/jobs/{id}", () => job());
}

const stand = (user: string) => screen.getByRole("region", { name: `Stand of ${user}` });

describe("Deployment page", () => {
  it("shows each user's VMs and follows the job until the deployment is done", async () => {
    let d = deployment();
    const fake = fakeApi(() => d);
    const { hub } = renderApp(<DeploymentPage />, { fake, path: "/proxmox/deployments/7", route: "/proxmox/deployments/:id" });
    expect(await screen.findByRole("heading", { name: "Deployment #7: net-lab" })).toBeInTheDocument();
    expect(screen.getByText(/On lab, 2 users/)).toBeInTheDocument();
    expect(screen.getByTestId("pve-deployment-status")).toHaveTextContent("running");
    const vms = within(stand("student1@pve")).getByRole("table", { name: "VMs of student1@pve" });
    expect(within(vms).getByRole("row", { name: /student1-web/ })).toHaveTextContent("pve2");
    expect(within(vms).getByRole("row", { name: /student1-web/ })).toHaveTextContent("10000");
    expect(within(vms).getByRole("row", { name: /student1-web/ })).toHaveTextContent("cloning");
    expect(within(stand("student2@pve")).getByRole("row", { name: /student2-web/ })).toHaveTextContent("planned");
    // While it moves, nothing destructive is offered.
    expect(screen.queryByRole("button", { name: "Clean up" })).not.toBeInTheDocument();

    // The job moves: the page re-reads the deployment.
    d = DONE;
    emit(hub, "job.updated", { job_id: 42, kind: "pve.deploy", status: "succeeded", progress: 100, message: "2 of 2 VMs ready (done)" }, "42");
    await waitFor(() => expect(screen.getByTestId("pve-deployment-status")).toHaveTextContent("done"));
    expect(within(stand("student2@pve")).getByRole("row", { name: /student2-web/ })).toHaveTextContent("ready");
    expect(screen.getByRole("progressbar", { name: "Job 42 progress" })).toHaveAttribute("aria-valuenow", "100");
    expect(screen.getByText("2 of 2 VMs ready (done)")).toBeInTheDocument();
  });

  it("shows the passwords once, and cleans up one user or all", async () => {
    let d = DONE;
    const fake = fakeApi(() => d)
      .on("POST", "/api/v1/pve/deployments/{id}/credentials", () => {
        d = { ...d, stands: d.stands.map((s) => ({ ...s, password_pending: false })) };
        return [
          { user: "student1@pve", password: "pw-one-1234" },
          { user: "student2@pve", password: "pw-two-5678" },
        ];
      })
      .on("POST", "/api/v1/pve/deployments/{id}/cleanup", () => {
        d = { ...d, status: "cleaning" };
        return job({ id: 43, kind: "pve.cleanup" });
      });
    renderApp(<DeploymentPage />, { fake, path: "/proxmox/deployments/7", route: "/proxmox/deployments/:id" });
    expect(await within(await screen.findByRole("region", { name: "Stand of student1@pve" })).findByText("password not shown yet")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Show passwords once" }));
    const dialog = await screen.findByRole("dialog", { name: "Passwords of the new users" });
    expect(within(dialog).getByLabelText("student1@pve")).toHaveValue("pw-one-1234");
    expect(within(dialog).getByLabelText("student2@pve")).toHaveValue("pw-two-5678");
    expect(dialog).toHaveTextContent("cannot show them again");
    await userEvent.click(within(dialog).getByRole("button", { name: "Done" }));
    await waitFor(() => expect(screen.queryByRole("button", { name: "Show passwords once" })).not.toBeInTheDocument());
    expect(document.body.innerHTML).not.toContain("pw-one-1234");

    await userEvent.click(screen.getByRole("button", { name: "Clean up student2@pve" }));
    let confirm = screen.getByRole("alertdialog", { name: "Clean up the stand of student2@pve?" });
    await userEvent.click(within(confirm).getByLabelText("Keep the Proxmox users Gantry created"));
    await userEvent.click(within(confirm).getByRole("button", { name: "Clean up stand" }));
    await waitFor(() => expect(fake.callsTo("POST", "/api/v1/pve/deployments/{id}/cleanup")).toHaveLength(1));
    expect(fake.callsTo("POST", "/api/v1/pve/deployments/{id}/cleanup")[0]).toMatchObject({ params: { path: { id: 7 } }, body: { users: ["student2@pve"], remove_users: false } });
    await waitFor(() => expect(screen.getByTestId("pve-deployment-status")).toHaveTextContent("cleaning"));

    d = { ...DONE, status: "partial" };
    await waitFor(() => expect(screen.getByTestId("pve-deployment-status")).toHaveTextContent("partial"), { timeout: 3000 });
    await userEvent.click(screen.getByRole("button", { name: "Clean up" }));
    confirm = screen.getByRole("alertdialog", { name: "Clean up deployment #7?" });
    expect(confirm).toHaveTextContent("2 VMs for 2 users");
    await userEvent.click(within(confirm).getByRole("button", { name: "Clean up all stands" }));
    await waitFor(() => expect(fake.callsTo("POST", "/api/v1/pve/deployments/{id}/cleanup")).toHaveLength(2));
    expect(fake.callsTo("POST", "/api/v1/pve/deployments/{id}/cleanup")[1].body).toEqual({ users: null, remove_users: true });
  });

  it("offers retry for a failed deployment and shows the VM's error", async () => {
    const failed = deployment({
      status: "failed",
      counts: { failed: 1, ready: 1 },
      stands: [standView({ status: "failed", error: "clone failed", vms: [vmView({ status: "failed", error: "storage 'local-lvm' is locked" })] })],
    });
    const fake = fakeApi(() => failed).on("POST", "/api/v1/pve/deployments/{id}/retry", () => job());
    renderApp(<DeploymentPage />, { fake, path: "/proxmox/deployments/7", route: "/proxmox/deployments/:id" });
    expect(await screen.findByText("storage 'local-lvm' is locked")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Retry" }));
    expect(await screen.findByText("Deployment #7 resumed")).toBeInTheDocument();
    expect(fake.callsTo("POST", "/api/v1/pve/deployments/{id}/retry")[0].params).toEqual({ path: { id: 7 } });
  });

  it("is read-only for viewers", async () => {
    renderApp(<DeploymentPage />, { fake: fakeApi(() => DONE), role: "viewer", path: "/proxmox/deployments/7", route: "/proxmox/deployments/:id" });
    await screen.findByRole("heading", { name: "Deployment #7: net-lab" });
    await within(stand("student1@pve")).findByText("password not shown yet");
    expect(screen.queryByRole("button", { name: /Show passwords|Retry|Clean up/ })).not.toBeInTheDocument();
  });
});
