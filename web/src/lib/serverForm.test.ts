import { describe, expect, it } from "vitest";
import type { Server } from "../api/client";
import { allParameters, createBody, emptyForm, formFromServer, labelsFrom, newRow, parametersFrom, patchBody, rowField } from "./serverForm";

const server = {
  id: 3,
  name: "web-1",
  address: "10.0.0.5",
  port: 22,
  ssh_user: "root",
  privilege: "root",
  labels: { env: "prod", team: "a" },
  description: "",
  parameters: { connect_timeout_seconds: 10 },
  credentials: { type: "ssh-ed25519", fingerprint: "SHA256:x", public_key: "ssh-ed25519 AAA", generated: false },
  host_key: { pinned: null, pending: null },
  status: "ok",
  version: 4,
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
} as unknown as Server;

describe("server form values", () => {
  it("turns rows into labels and typed parameters, skipping empty rows", () => {
    const rows = [newRow(" env ", "prod"), newRow("", ""), newRow("nginx_conf_dir", "/etc/nginx"), newRow("connect_timeout_seconds", "10")];
    expect(labelsFrom(rows.slice(0, 2))).toEqual({ env: "prod" });
    expect(parametersFrom(rows.slice(2))).toEqual({ nginx_conf_dir: "/etc/nginx", connect_timeout_seconds: 10 });
    expect(rowField("labels", rows[0])).toBe("labels.env");
  });

  it("builds the create body for a pasted key, and for a generated one", () => {
    const v = { ...emptyForm(), name: " web-1 ", address: "10.0.0.5", private_key: "-----BEGIN…", labels: [newRow("env", "prod")] };
    expect(createBody(v)).toMatchObject({
      name: "web-1",
      address: "10.0.0.5",
      port: 22,
      ssh_user: "root",
      privilege: null,
      labels: { env: "prod" },
      parameters: {},
      credentials: { private_key: "-----BEGIN…", passphrase: null },
    });
    expect(createBody(v)).not.toHaveProperty("host_key");
    expect(createBody({ ...v, credentials: "generate", host_key: " SHA256:abc " })).toMatchObject({ credentials: { generate: true }, host_key: "SHA256:abc" });
  });

  it("sends only what changed on edit, and no credentials when the key is kept", () => {
    const v = formFromServer(server);
    expect(v.credentials).toBe("keep");
    expect(patchBody(v, server)).toEqual({});
    // Reordered but equal labels are no change.
    expect(patchBody({ ...v, labels: [newRow("team", "a"), newRow("env", "prod")] }, server)).toEqual({});
    expect(patchBody({ ...v, port: "2222", labels: [newRow("env", "staging")] }, server)).toEqual({ port: 2222, labels: { env: "staging" } });
    expect(patchBody({ ...v, credentials: "paste", private_key: "k", passphrase: "p" }, server)).toEqual({ credentials: { private_key: "k", passphrase: "p" } });
  });

  it("maps the automatic proxy install checkbox to the proxy_auto_install parameter", () => {
    expect(parametersFrom([newRow("proxy_status_port", "8090"), newRow("x", "true")])).toEqual({ proxy_status_port: 8090, x: true });
    const v = { ...emptyForm(), name: "edge", address: "10.0.0.5", private_key: "k", proxy_auto_install: true };
    expect(createBody(v).parameters).toEqual({ proxy_auto_install: true });
    expect(createBody({ ...v, proxy_auto_install: false }).parameters).toEqual({});
    // Read back: the checkbox, not a row.
    const withAuto = { ...server, parameters: { connect_timeout_seconds: 10, proxy_auto_install: true } } as unknown as Server;
    const f = formFromServer(withAuto);
    expect(f.proxy_auto_install).toBe(true);
    expect(f.parameters.map((r) => r.key)).toEqual(["connect_timeout_seconds"]);
    expect(patchBody(f, withAuto)).toEqual({});
    expect(patchBody({ ...f, proxy_auto_install: false }, withAuto)).toEqual({ parameters: { connect_timeout_seconds: 10 } });
    // A row with the same key does not fight the checkbox.
    expect(allParameters({ parameters: [newRow("proxy_auto_install", "true")], proxy_auto_install: false })).toEqual({});
  });
});
