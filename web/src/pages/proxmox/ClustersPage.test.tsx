import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../../api/client";
import type { ClusterInput, PveCluster, TestReport } from "../../api/pve";
import { FakeApi, renderApp } from "../../test/harness";
import { cluster } from "../../test/pve";
import { ClustersPage } from "./ClustersPage";

afterEach(() => vi.restoreAllMocks());

const REPORT: TestReport = {
  ok: false,
  version: "9.1.3",
  quorate: true,
  nodes_online: 2,
  nodes_total: 3,
  nodes: { pve1: true, pve2: true, pve3: false },
  missing_privileges: ["VM.Clone", "Pool.Allocate"],
  error: null,
  error_kind: null,
};

describe("Proxmox clusters", () => {
  it("adds a cluster: the API's field errors land under their fields, a pasted token fills the secret", async () => {
    let clusters: PveCluster[] = [];
    const fake = new FakeApi()
      .on("GET", "/api/v1/pve/clusters", () => clusters)
      .on("POST", "/api/v1/pve/clusters", ({ body }) => {
        const b = body as ClusterInput;
        const errors = [];
        if (b.endpoints.length < 2) errors.push({ field: "endpoints[0]", message: "an endpoint is https://host[:port]" });
        if (!b.fingerprint) errors.push({ field: "fingerprint", message: "give the API certificate's SHA-256 fingerprint" });
        if (b.secret === "bad") errors.push({ field: "secret", message: "the token secret or password is required" });
        if (b.vmid_first === 5) errors.push({ field: "vmid_first", message: "VMIDs start at 100" });
        if (errors.length) throw new ApiError({ status: 422, code: "validation_failed", detail: "invalid", errors });
        clusters = [cluster({ name: b.name, auth_id: b.token_id! })];
        return clusters[0];
      });
    renderApp(<ClustersPage />, { fake });
    expect(await screen.findByRole("heading", { name: "No clusters yet" })).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Add cluster" }));
    const dialog = screen.getByRole("dialog", { name: "Add Proxmox cluster" });
    await userEvent.type(within(dialog).getByLabelText("Name"), "lab");
    await userEvent.type(within(dialog).getByLabelText("API endpoints"), "pve1");
    await userEvent.type(within(dialog).getByLabelText("First VMID"), "5");
    await userEvent.type(within(dialog).getByLabelText("Last VMID"), "999");
    // The whole token, as Proxmox shows it once: split at the first '=' after the '!'.
    await userEvent.click(within(dialog).getByLabelText("Token ID"));
    await userEvent.paste("root@pam!gantry=bad");
    expect(within(dialog).getByLabelText("Token ID")).toHaveValue("root@pam!gantry");
    expect(within(dialog).getByLabelText("Token secret")).toHaveValue("bad");
    await userEvent.click(within(dialog).getByRole("button", { name: "Add cluster" }));

    await waitFor(() => expect(within(dialog).getByLabelText("API endpoints")).toHaveAttribute("aria-invalid", "true"));
    expect(within(dialog).getByLabelText("API endpoints")).toHaveAccessibleDescription("line 1: an endpoint is https://host[:port]");
    expect(within(dialog).getByLabelText("Certificate fingerprint (SHA-256)")).toHaveAccessibleDescription("give the API certificate's SHA-256 fingerprint");
    expect(within(dialog).getByLabelText("First VMID")).toHaveAccessibleDescription("VMIDs start at 100");
    expect(within(dialog).getByLabelText("Token secret")).toHaveAccessibleDescription("the token secret or password is required");
    // A rejected secret is cleared; the rest stays.
    expect(within(dialog).getByLabelText("Token secret")).toHaveValue("");
    expect(within(dialog).getByLabelText("Name")).toHaveValue("lab");
    expect(within(dialog).getByRole("alert")).toHaveTextContent("Please correct the highlighted fields.");

    await userEvent.type(within(dialog).getByLabelText("API endpoints"), "\nhttps://pve2:8006");
    await userEvent.type(within(dialog).getByLabelText("Certificate fingerprint (SHA-256)"), "AB:CD");
    await userEvent.type(within(dialog).getByLabelText("Token secret"), "s3cret");
    await userEvent.clear(within(dialog).getByLabelText("First VMID"));
    await userEvent.type(within(dialog).getByLabelText("First VMID"), "100");
    await userEvent.click(within(dialog).getByRole("button", { name: "Add cluster" }));
    expect(await screen.findByText("Cluster “lab” added")).toBeInTheDocument();
    expect(fake.callsTo("POST", "/api/v1/pve/clusters").at(-1)?.body).toEqual({
      name: "lab",
      endpoints: ["pve1", "https://pve2:8006"],
      token_id: "root@pam!gantry",
      username: null,
      secret: "s3cret",
      fingerprint: "AB:CD",
      ca_pem: null,
      vmid_first: 100,
      vmid_last: 999,
    });
    const table = await screen.findByRole("table", { name: "Proxmox clusters" });
    await within(table).findByText("lab");
    expect(document.body.innerHTML).not.toContain("s3cret");
  });

  it("edits without showing the secret: empty means keep", async () => {
    const fake = new FakeApi().on("GET", "/api/v1/pve/clusters", () => [cluster()]).on("PUT", "/api/v1/pve/clusters/{id}", ({ body }) => cluster({ name: (body as ClusterInput).name }));
    renderApp(<ClustersPage />, { fake });
    await userEvent.click(await screen.findByRole("button", { name: "Edit lab" }));
    const dialog = screen.getByRole("dialog", { name: "Edit cluster “lab”" });
    const secret = within(dialog).getByLabelText("Token secret");
    expect(secret).toHaveValue("");
    expect(secret).not.toBeRequired();
    expect(secret).toHaveAccessibleDescription("Leave empty to keep the stored secret.");
    expect(within(dialog).getByLabelText("Certificate fingerprint (SHA-256)")).toHaveValue(cluster().fingerprint);
    await userEvent.clear(within(dialog).getByLabelText("Name"));
    await userEvent.type(within(dialog).getByLabelText("Name"), "lab2");
    await userEvent.click(within(dialog).getByRole("button", { name: "Save cluster" }));
    expect(await screen.findByText("Cluster “lab2” saved")).toBeInTheDocument();
    const call = fake.callsTo("PUT", "/api/v1/pve/clusters/{id}")[0];
    expect(call.params).toEqual({ path: { id: 1 } });
    expect(call.body).not.toHaveProperty("secret");
    expect(call.body).toMatchObject({ name: "lab2", endpoints: cluster().endpoints, vmid_first: 10000, vmid_last: 19999 });
  });

  it("tests the connection: version, quorum, nodes and missing privileges", async () => {
    const fake = new FakeApi().on("GET", "/api/v1/pve/clusters", () => [cluster()]).on("POST", "/api/v1/pve/clusters/{id}/test", () => REPORT);
    renderApp(<ClustersPage />, { fake });
    await userEvent.click(await screen.findByRole("button", { name: "Test connection to lab" }));
    const region = await screen.findByRole("region", { name: "Connection test of lab" });
    await within(region).findByText("9.1.3");
    expect(region).toHaveTextContent("connection has problems");
    expect(region).toHaveTextContent("quorate");
    expect(region).toHaveTextContent("2 of 3");
    expect(within(region).getByText("pve3: offline")).toBeInTheDocument();
    expect(within(within(region).getByRole("list", { name: "Missing privileges" })).getAllByRole("listitem").map((l) => l.textContent)).toEqual(["VM.Clone", "Pool.Allocate"]);
  });

  it("shows why a delete is refused", async () => {
    const fake = new FakeApi()
      .on("GET", "/api/v1/pve/clusters", () => [cluster()])
      .on("DELETE", "/api/v1/pve/clusters/{id}", () => {
        throw new ApiError({ status: 409, code: "conflict", detail: "deployment 3 still uses this cluster" });
      });
    renderApp(<ClustersPage />, { fake });
    await userEvent.click(await screen.findByRole("button", { name: "Delete lab" }));
    const confirm = screen.getByRole("alertdialog", { name: "Delete cluster “lab”?" });
    await userEvent.click(within(confirm).getByRole("button", { name: "Delete cluster" }));
    expect(await within(confirm).findByRole("alert")).toHaveTextContent("deployment 3 still uses this cluster");
  });

  it("is read-only for viewers", async () => {
    renderApp(<ClustersPage />, { fake: new FakeApi().on("GET", "/api/v1/pve/clusters", () => [cluster()]), role: "viewer" });
    const table = await screen.findByRole("table", { name: "Proxmox clusters" });
    await within(table).findByText("lab");
    expect(within(table).getByText("root@pam!gantry")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Add cluster" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /Test connection|Edit|Delete/ })).not.toBeInTheDocument();
  });
});
