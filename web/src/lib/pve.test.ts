import { describe, expect, it } from "vitest";
import { blueprint, cluster, deployment, standView, vmView } from "../test/pve";
import {
  blueprintToForm,
  clusterBody,
  clusterToForm,
  countsSummary,
  EMPTY_CLUSTER_FORM,
  endpointsError,
  formToBlueprint,
  isActive,
  parseNetworks,
  parseUsers,
  splitToken,
  statusTone,
  vmProgress,
} from "./pve";

describe("splitToken", () => {
  it("splits at the first '=' after the '!'", () => {
    expect(splitToken("root@pam!gantry=1234-abcd=x")).toEqual({ tokenId: "root@pam!gantry", secret: "1234-abcd=x" });
    expect(splitToken("  a@pve!t=s ")).toEqual({ tokenId: "a@pve!t", secret: "s" });
  });
  it("is null for anything else", () => {
    expect(splitToken("root@pam!gantry")).toBeNull();
    expect(splitToken("a=b@pam")).toBeNull();
    expect(splitToken("root@pam!gantry=")).toBeNull();
  });
});

describe("cluster form", () => {
  it("sends only the chosen auth and trust, and no empty secret", () => {
    const f = { ...EMPTY_CLUSTER_FORM, name: " lab ", endpoints: "https://a:8006\n\n https://b:8006 ", token_id: "root@pam!g", secret: "", fingerprint: "AB:CD", ca_pem: "ignored" };
    expect(clusterBody(f)).toEqual({
      name: "lab",
      endpoints: ["https://a:8006", "https://b:8006"],
      token_id: "root@pam!g",
      username: null,
      fingerprint: "AB:CD",
      ca_pem: null,
      vmid_first: null,
      vmid_last: null,
    });
    expect(clusterBody({ ...f, auth: "password", username: "u@pve", secret: "pw", trust: "ca", vmid_first: "100", vmid_last: "199" })).toMatchObject({
      token_id: null,
      username: "u@pve",
      secret: "pw",
      fingerprint: null,
      ca_pem: "ignored",
      vmid_first: 100,
      vmid_last: 199,
    });
  });
  it("edits a cluster without its secret", () => {
    const f = clusterToForm(cluster());
    expect(f.secret).toBe("");
    expect(f.endpoints).toBe("https://10.0.0.1:8006\nhttps://10.0.0.2:8006");
    expect(f.token_id).toBe("root@pam!gantry");
    expect(f.vmid_first).toBe("10000");
    expect(clusterBody(f)).not.toHaveProperty("secret");
    expect(clusterToForm(cluster({ auth: "password", auth_id: "gantry@pve", fingerprint: null, has_ca: true }))).toMatchObject({ auth: "password", username: "gantry@pve", token_id: "", trust: "ca" });
  });
  it("names the endpoint line of an error", () => {
    expect(endpointsError([{ field: "endpoints[1]", message: "not an https URL" }, { field: "name", message: "x" }])).toBe("line 2: not an https URL");
    expect(endpointsError([{ field: "endpoints", message: "at least one" }])).toBe("at least one");
    expect(endpointsError([])).toBeUndefined();
  });
});

describe("blueprint form", () => {
  it("round-trips a blueprint, keeping disks and leaving empty fields to the API's defaults", () => {
    const spec = blueprint().spec;
    const f = blueprintToForm(spec);
    expect(f.vms[0]).toMatchObject({ key: "router", networks: "hq.100, hq.200", cores: "", clone: "linked", start: true });
    expect(f.vms[1]).toMatchObject({ key: "client", memory_mib: "1024", cores: "2", clone: "full", storage: "local-lvm" });
    expect(formToBlueprint(f)).toEqual({
      ...spec,
      vms: [
        { key: "router", template: "debian-12", name: "{user}-router", networks: ["hq.100", "hq.200"], clone: "linked", start: true },
        spec.vms[1],
      ],
    });
    const blank = formToBlueprint({ ...f, role: " ", vms: [{ ...f.vms[0], name: "", networks: " , " }] });
    expect(blank).not.toHaveProperty("role");
    expect(blank.vms[0]).toEqual({ key: "router", template: "debian-12", networks: [], clone: "linked", start: true });
  });
  it("parses network and user lists", () => {
    expect(parseNetworks("hq.100, lab ,,")).toEqual(["hq.100", "lab"]);
    expect(parseUsers("student1@pve\n\n  student2@pve  # second\n# comment\r\n")).toEqual(["student1@pve", "student2@pve"]);
  });
});

describe("states", () => {
  it("tones, activity and counts", () => {
    expect(statusTone("done")).toBe("success");
    expect(statusTone("failed")).toBe("danger");
    expect(statusTone("whatever")).toBe("neutral");
    expect(isActive({ status: "cleaning" })).toBe(true);
    expect(isActive({ status: "partial" })).toBe(false);
    expect(countsSummary({ failed: 1, ready: 3, planned: 0, cloning: 2 })).toEqual([
      { status: "ready", n: 3 },
      { status: "cloning", n: 2 },
      { status: "failed", n: 1 },
    ]);
  });
  it("measures progress by VMs at their goal", () => {
    const d = deployment({ stands: [standView({ vms: [vmView({ status: "ready" }), vmView({ id: 2, status: "cloning" })] })] });
    expect(vmProgress(d)).toBe(50);
    expect(vmProgress({ ...d, status: "cleaning" })).toBe(0);
    expect(vmProgress({ ...d, stands: [] })).toBe(0);
  });
});
