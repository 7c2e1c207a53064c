// End-to-end tests of the Proxmox pages against the real binary and the
// Proxmox VE simulator (`gantry-pvesim --timing fast`, loopback only): a
// cluster added with the simulator's token and pinned fingerprint, "Test
// connection", its templates, a blueprint imported from YAML (and a bad
// VLAN's line/column error), the deploy wizard's plan, a deployment followed
// live to `done`, the one-time passwords, and the cleanup, after which the
// simulator's VMs and users are exactly what they were before. No fleet, no
// root. Owns the `6x-` screenshots.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ADMIN_PASSWORD, assertNoProblems, launchBrowser, pageKit, prepareSuite, problemSink, startGantry, startPveSim, stopAll, watchedPage } from "./gantry.mjs";

// Failed requests the flow causes on purpose (logged by the browser as console errors).
const EXPECTED_FAILURES = [
  { path: "/api/v1/auth/me", status: 401 }, // who is signed in, before login
  { path: "/api/v1/pve/blueprints/import", status: 422 }, // the bad VLAN
];

const USERS = ["student1@pve", "student2@pve"];
const GOOD_YAML = `name: e2e-lab
description: one web VM per student
vms:
  - key: web
    template: debian-12
    name: "{user}-web"
    memory_mib: 1024
    networks: [hq.100]
    start: true
`;
const BAD_YAML = GOOD_YAML.replace("hq.100", "hq.5000");

let sim;
let gantry;
let browser;
let page;
const { shoot, noHorizontalOverflow, signInToDashboard, nav } = pageKit(() => page);
const problems = problemSink();

/** The simulator's guests and users, comparable across a deployment. */
async function simInventory() {
  const r = await sim.control("GET", "/_sim/state");
  assert.equal(r.status, 200);
  return {
    vms: r.body.vms.map((v) => ({ vmid: v.vmid, node: v.node, name: v.name, template: v.template })).sort((a, b) => a.vmid - b.vmid),
    users: r.body.users.map((u) => u.userid).sort(),
    pools: r.body.pools.map((p) => p.poolid).sort(),
  };
}

const tab = (name) => page.getByRole("navigation", { name: "Proxmox sections" }).getByRole("link", { name, exact: true });
const status = () => page.getByTestId("pve-deployment-status");

async function waitForStatus(want, timeout = 30000) {
  await page.waitForFunction((w) => document.querySelector('[data-testid="pve-deployment-status"]')?.textContent?.trim() === w, want, { timeout });
}

describe("Proxmox pages", { concurrency: false }, () => {
  let before0;
  let deploymentUrl;
  before(async () => {
    prepareSuite(/^6\d-/);
    sim = await startPveSim(["--timing", "fast"]);
    gantry = await startGantry({ env: { GANTRY_PVE__POLL_MS: "20", GANTRY_PVE__RETRY_SCALE: "0.05", GANTRY_SERVERS__PROBE_INTERVAL_SECONDS: "0" } });
    browser = await launchBrowser();
    page = await watchedPage(browser, problems, { expected: EXPECTED_FAILURES, timeout: 15000, localOnly: true });
    await page.goto(`${gantry.url}/`);
    await signInToDashboard("admin", ADMIN_PASSWORD);
  });

  after(async () => {
    try {
      await stopAll({ browser, gantry });
    } finally {
      await sim?.stop();
    }
  });

  test("a cluster is added with the simulator's token and fingerprint, and its connection tested", async () => {
    await nav("Proxmox");
    await page.getByRole("heading", { name: "Proxmox", level: 1 }).waitFor();
    await page.getByRole("heading", { name: "No clusters yet" }).waitFor();
    await page.getByRole("button", { name: "Add cluster" }).click();
    const dialog = page.getByRole("dialog", { name: "Add Proxmox cluster" });
    // The token as Proxmox shows it once: id and secret split at the first '=' after the '!'.
    const bang = sim.token.indexOf("!");
    const eq = sim.token.indexOf("=", bang);
    await dialog.getByLabel("Name").fill("sim");
    await dialog.getByLabel("API endpoints").fill(sim.urls.join("\n"));
    await dialog.getByLabel("Token ID").fill(sim.token.slice(0, eq));
    await dialog.getByLabel("Token secret").fill(sim.token.slice(eq + 1));
    await dialog.getByLabel("Certificate fingerprint (SHA-256)").fill(sim.fingerprint);
    await dialog.getByRole("button", { name: "Add cluster" }).click();
    await dialog.waitFor({ state: "detached" });
    await page.getByRole("status").filter({ hasText: "Cluster “sim” added" }).waitFor();
    const table = page.getByRole("table", { name: "Proxmox clusters" });
    await table.getByRole("row").filter({ hasText: "sim" }).filter({ hasText: "root@pam!gantry" }).waitFor();
    assert.equal(await page.getByText(sim.token.slice(eq + 1)).count(), 0, "the secret is not shown");

    await page.getByRole("button", { name: "Test connection to sim" }).click();
    const report = page.getByRole("region", { name: "Connection test of sim" });
    await report.getByTestId("pve-version").filter({ hasText: "9.1.3" }).waitFor();
    await report.getByText("connection ok").waitFor();
    await report.getByText("quorate").waitFor();
    await noHorizontalOverflow();
    await shoot("60-pve-clusters");

    // Editing shows no secret: empty means keep.
    await page.getByRole("button", { name: "Edit sim" }).click();
    const edit = page.getByRole("dialog", { name: "Edit cluster “sim”" });
    assert.equal(await edit.getByLabel("Token secret").inputValue(), "");
    await edit.getByText("Leave empty to keep the stored secret.").waitFor();
    await edit.getByRole("button", { name: "Cancel" }).click();
    await edit.waitFor({ state: "detached" });
  });

  test("the cluster's templates are listed", async () => {
    await tab("Templates").click();
    const table = page.getByRole("table", { name: "Templates of sim" });
    const row = table.getByRole("row").filter({ hasText: "debian-12" });
    await row.waitFor();
    assert.match(await row.textContent(), /pve1/);
    await noHorizontalOverflow();
    await shoot("61-pve-templates");
  });

  test("a blueprint is imported from YAML; a bad VLAN shows its line and column", async () => {
    await tab("Blueprints").click();
    await page.getByRole("heading", { name: "No blueprints yet" }).waitFor();
    await page.getByRole("button", { name: "Import YAML" }).click();
    const dialog = page.getByRole("dialog", { name: "Import blueprint from YAML" });
    const yaml = dialog.getByLabel("deployment_config.yml");
    await yaml.fill(BAD_YAML);
    await dialog.getByRole("button", { name: "Import" }).click();
    await page.waitForFunction(() => document.querySelector('textarea[name="yaml"]')?.getAttribute("aria-invalid") === "true");
    const described = await yaml.getAttribute("aria-describedby");
    const msg = await page.locator(`[id="${described}"]`).textContent();
    assert.match(msg, /line 8, column \d+/, `the error names line and column: ${msg}`);
    assert.match(msg, /5000|VLAN/i, `the error is about the VLAN: ${msg}`);
    await noHorizontalOverflow();
    await shoot("62-pve-blueprint-import-error");

    await yaml.fill(GOOD_YAML);
    await dialog.getByRole("button", { name: "Import" }).click();
    await dialog.waitFor({ state: "detached" });
    await page.getByRole("status").filter({ hasText: "Blueprint “e2e-lab” imported" }).waitFor();
    const row = page.getByRole("table", { name: "Blueprints" }).getByRole("row").filter({ hasText: "e2e-lab" });
    await row.filter({ hasText: "debian-12" }).filter({ hasText: "hq.100" }).waitFor();
    // The export is the YAML file (same session, plain GET).
    const exported = await page.evaluate(async (href) => {
      const r = await fetch(href);
      return { type: r.headers.get("content-type"), text: await r.text() };
    }, await row.getByRole("link", { name: "Export e2e-lab as YAML" }).getAttribute("href"));
    assert.match(exported.type, /yaml/);
    assert.match(exported.text, /name: e2e-lab/);
    assert.match(exported.text, /hq\.100/);
    // The form shows the VM as imported.
    await row.getByRole("button", { name: "Edit e2e-lab" }).click();
    const form = page.getByRole("dialog", { name: "Edit blueprint “e2e-lab”" });
    assert.equal(await form.getByLabel("VM 1 template").inputValue(), "debian-12");
    assert.equal(await form.getByLabel("VM 1 networks").inputValue(), "hq.100");
    assert.equal(await form.getByLabel("VM 1 memory (mib)").inputValue(), "1024");
    await noHorizontalOverflow();
    await shoot("63-pve-blueprint-form");
    await form.getByRole("button", { name: "Cancel" }).click();
    await form.waitFor({ state: "detached" });
    await noHorizontalOverflow();
    await shoot("64-pve-blueprints");
  });

  test("the deploy wizard plans, deploys, and follows the deployment live to done", async () => {
    before0 = await simInventory();
    await tab("Deploy").click();
    await page.getByLabel("Blueprint", { exact: true }).selectOption("e2e-lab");
    await page.getByLabel("Users", { exact: true }).fill(USERS.join("\n"));
    await page.getByRole("button", { name: "Plan", exact: true }).click();
    const plan = page.getByTestId("pve-plan");
    await plan.waitFor();
    for (const u of USERS) {
      const t = plan.getByRole("table", { name: `Plan for ${u}` });
      const row = t.getByRole("row").filter({ hasText: `${u.split("@")[0]}-web` });
      await row.waitFor();
      assert.match(await row.textContent(), /pve\d/);
      assert.match(await row.textContent(), /linked/);
    }
    await plan.getByRole("button", { name: "Node scores for student1-web" }).click();
    await plan.getByRole("table", { name: "Node scores for student1-web" }).getByText("chosen").waitFor();
    await noHorizontalOverflow();
    await shoot("65-pve-plan");
    // Nothing changed on the cluster yet.
    assert.deepEqual(await simInventory(), before0);

    await page.getByRole("button", { name: "Deploy 2 stands" }).click();
    await page.getByRole("heading", { name: /^Deployment #\d+: e2e-lab$/ }).waitFor();
    deploymentUrl = page.url();
    await page.getByRole("progressbar").first().waitFor();
    await waitForStatus("done");
    for (const u of USERS) {
      const stand = page.getByRole("region", { name: `Stand of ${u}` });
      await stand.getByRole("row").filter({ hasText: `${u.split("@")[0]}-web` }).filter({ hasText: "ready" }).waitFor();
    }
    await page.getByText("2 ready").first().waitFor();
    await page.locator('[role="progressbar"][aria-valuenow="100"]').waitFor();
    const after1 = await simInventory();
    assert.equal(after1.vms.length, before0.vms.length + 2, "two VMs were cloned");
    for (const u of USERS) assert.ok(after1.users.includes(u), `${u} was created`);
    await noHorizontalOverflow();
    await shoot("66-pve-deployment-done");
  });

  test("the generated passwords are shown once", async () => {
    await page.getByRole("button", { name: "Show passwords once" }).click();
    const dialog = page.getByRole("dialog", { name: "Passwords of the new users" });
    const passwords = [];
    for (const u of USERS) {
      const v = await dialog.getByLabel(u, { exact: true }).inputValue();
      assert.ok(v.length >= 8, `a password for ${u}`);
      passwords.push(v);
    }
    await noHorizontalOverflow();
    await shoot("67-pve-passwords");
    await dialog.getByRole("button", { name: "Done" }).click();
    await dialog.waitFor({ state: "detached" });
    await page.getByRole("button", { name: "Show passwords once" }).waitFor({ state: "detached" });
    const html = await page.content();
    for (const p of passwords) assert.ok(!html.includes(p), "the password is gone from the page");
  });

  test("cleanup removes the stands: the cluster is as it was before", async () => {
    await page.getByRole("button", { name: "Clean up", exact: true }).click();
    const confirm = page.getByRole("alertdialog", { name: /^Clean up deployment #\d+\?$/ });
    await confirm.getByRole("button", { name: "Clean up all stands" }).click();
    await confirm.waitFor({ state: "detached" });
    await waitForStatus("cleaned");
    assert.equal(await status().textContent(), "cleaned");
    assert.equal(await page.getByRole("button", { name: "Clean up", exact: true }).count(), 0);
    assert.deepEqual(await simInventory(), before0, "after cleanup the simulator's VMs, users and pools equal those before the deployment");
    await noHorizontalOverflow();
    await shoot("68-pve-deployment-cleaned");

    await tab("Deployments").click();
    const row = page.getByRole("table", { name: "Deployments" }).getByRole("row").filter({ hasText: "e2e-lab" });
    await row.filter({ hasText: "cleaned" }).waitFor();
    await page.getByRole("table", { name: "Orphans on sim" }).getByRole("heading", { name: "No orphans" }).waitFor();
    await noHorizontalOverflow();
    await shoot("69-pve-deployments");
    assert.ok(deploymentUrl.includes("/proxmox/deployments/"));
  });

  test("no console errors, no CSP violations", () => assertNoProblems(problems));
});
