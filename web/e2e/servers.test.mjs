// End-to-end tests of the Servers page against a REAL sshd: the test fleet
// (`gantry-testfleet up --hosts 1`) starts a host in its own network
// namespace; gantry connects to it over SSH. Needs root (namespaces, veths):
// without root the suite is skipped with a loud message, except under CI=true
// where it fails. The fleet is always brought down at the end.
//
// Traffic: the browser talks only to gantry on 127.0.0.1; gantry talks to the
// fleet host's address.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { ADMIN_PASSWORD, apiSession, assertNoProblems, fleetSkip, launchBrowser, pageKit, prepareSuite, problemSink, startFleet, startGantry, stopAll, watchedPage } from "./gantry.mjs";

const skip = fleetSkip("servers", "network namespaces and a real sshd", "the Servers page");

// Failed requests the flow causes on purpose (logged by the browser as console errors).
const EXPECTED_FAILURES = [
  { path: "/api/v1/auth/me", status: 401 }, // who is signed in, before login
  { path: "/api/v1/servers", status: 422 }, // the invalid key and label (field errors)
  { path: "/api/v1/servers/", status: 412 }, // the stale edit (conflict dialog)
  { path: "/api/v1/jobs/", status: 0 }, // job reads blocked on purpose to prove the checklist comes over SSE
];

let fleet;
let gantry;
let browser;
let page;
const { shoot, noHorizontalOverflow, signInToDashboard, signOut, nav } = pageKit(() => page);
const problems = problemSink();

const step = (name) => page.locator(`.checklist [data-step="${name}"]`);
const STEPS = ["resolve", "tcp", "handshake", "host_key", "auth", "privilege", "facts"];

describe("servers page against a real sshd", { concurrency: false, skip }, () => {
  before(async () => {
    prepareSuite(/^2\d-/);
    fleet = startFleet(1);
    gantry = await startGantry();
    browser = await launchBrowser();
    // Only gantry (127.0.0.1) may be contacted by the browser.
    page = await watchedPage(browser, problems, { expected: EXPECTED_FAILURES, timeout: 15000, localOnly: true });
    await page.goto(`${gantry.url}/`);
    await signInToDashboard("admin", ADMIN_PASSWORD);
  });

  after(() => stopAll({ browser, gantry, fleet }));

  test("add a server by pasting a key, with inline field errors first", async () => {
    const host = fleet.hosts[0];
    await nav("Servers");
    await page.getByRole("heading", { name: "Servers", level: 1 }).waitFor();
    await page.getByRole("heading", { name: "No servers yet" }).waitFor();
    await page.getByRole("link", { name: "Add server", exact: true }).click();
    await page.getByRole("heading", { name: "Add server", level: 1 }).waitFor();
    const form = page.getByRole("form", { name: "Add server" });
    await form.getByLabel("Name").fill("web-1");
    await form.getByLabel("Address").fill(host.addr);
    await form.getByLabel("Description").fill("Test fleet host");
    await form.getByLabel("Private key", { exact: true }).fill("this is not a key");
    await form.getByLabel("Passphrase").fill("not-needed");
    await form.getByLabel("Labels row 1 key").fill("Bad Key");
    await form.getByLabel("Labels row 1 value").fill("prod");
    await form.getByRole("button", { name: "Add parameter" }).click();
    await form.getByLabel("Parameters row 1 key").fill("connect_timeout_seconds");
    await form.getByLabel("Parameters row 1 value").fill("10");
    await form.getByRole("button", { name: "Add server" }).click();
    // The API's nested field errors land on the right inputs.
    await form.getByText("not a private key", { exact: false }).waitFor();
    assert.equal(await form.getByLabel("Private key", { exact: true }).getAttribute("aria-invalid"), "true");
    assert.equal(await form.getByLabel("Labels row 1 key").getAttribute("aria-invalid"), "true");
    await form.getByText("keys are 1–63", { exact: false }).waitFor();
    assert.equal(await form.getByLabel("Address").getAttribute("aria-invalid"), null);
    // The rejected key and its passphrase are not kept.
    assert.equal(await form.getByLabel("Private key", { exact: true }).inputValue(), "");
    assert.equal(await form.getByLabel("Passphrase").inputValue(), "");
    await noHorizontalOverflow();
    await shoot("21-server-form-errors");

    await form.getByLabel("Labels row 1 key").fill("env");
    await form.getByLabel("Private key", { exact: true }).fill(readFileSync(fleet.client_key_path, "utf8"));
    await form.getByRole("button", { name: "Add server" }).click();
    await page.getByRole("heading", { name: "web-1", level: 1 }).waitFor();
    await page.getByRole("status").filter({ hasText: "Server “web-1” added" }).waitFor();
    await page.getByTestId("server-status").locator('[data-status="unknown"]').waitFor();
    const shown = await page.evaluate(() => [...document.querySelectorAll("input, textarea")].map((e) => /** @type {HTMLInputElement} */ (e).value).join("\n") + document.body.innerText);
    assert.doesNotMatch(shown, /PRIVATE KEY/, "the private key is not shown anywhere");
  });

  test("check now: the steps turn green live over SSE and the status becomes ok", async () => {
    // Block job reads: the checklist must come from the event stream alone.
    await page.route(/\/api\/v1\/jobs\/\d+$/, (route) => route.abort());
    const seen = [];
    await page.exposeFunction("__stepSeen", (v) => seen.push(v));
    await page.evaluate(() => {
      new MutationObserver((records) => {
        for (const r of records) {
          const el = /** @type {HTMLElement} */ (r.target);
          // @ts-ignore
          if (el.dataset?.step) window.__stepSeen(`${el.dataset.step}:${el.dataset.state}`);
        }
      }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
    });
    await page.getByRole("button", { name: "Check now" }).click();
    for (const s of STEPS) await step(s).and(page.locator('[data-state="ok"]')).waitFor();
    await page.getByTestId("server-status").locator('[data-status="ok"]').waitFor();
    assert.equal(await page.getByTestId("server-status").locator(".badge").textContent(), "ok");
    assert.ok(seen.some((v) => v.endsWith(":ok")), `steps changed state live: ${seen.join(", ")}`);
    await page.unroute(/\/api\/v1\/jobs\/\d+$/);

    // With job reads allowed, a second check ends with the job's result (durations) and the facts.
    await page.reload();
    await page.getByRole("heading", { name: "web-1", level: 1 }).waitFor();
    await page.getByRole("button", { name: "Check now" }).click();
    for (const s of STEPS) await step(s).and(page.locator('[data-state="ok"]')).waitFor();
    await step("auth").locator(".check-duration").waitFor(); // from the finished job's result
    assert.equal(await page.getByRole("button", { name: "Check now" }).isEnabled(), true, "enabled again once the check ended");
    await page.getByTestId("server-facts").getByText("x86_64").waitFor();
    assert.equal(await page.getByTestId("host-key-pinned").textContent(), fleet.hosts[0].host_key_fingerprint, "the host key is pinned");
    await noHorizontalOverflow();
    await shoot("22-server-detail-checked");

    // After a reload the latest check's steps are still shown (from last_check_job_id).
    await page.reload();
    await page.getByRole("heading", { name: "web-1", level: 1 }).waitFor();
    for (const s of STEPS) await step(s).and(page.locator('[data-state="ok"]')).waitFor();

    await nav("Servers");
    const row = page.getByRole("table", { name: "Servers" }).getByRole("row").filter({ hasText: "web-1" });
    await row.locator('[data-status="ok"]').waitFor();
    await row.getByText("env=prod").waitFor();
    await noHorizontalOverflow();
    await shoot("20-servers");
  });

  test("edit: a 412 conflict offers the latest version, then the change is saved", async () => {
    await page.getByRole("table", { name: "Servers" }).getByRole("link", { name: "web-1" }).click();
    await page.getByRole("link", { name: "Edit" }).click();
    const form = page.getByRole("form", { name: "Edit server “web-1”" });
    await form.getByLabel("Description").waitFor();
    const other = await apiSession(gantry.url, "admin", ADMIN_PASSWORD);
    const { body: web1 } = await other("GET", "/api/v1/servers?q=web-1");
    const s = web1.items[0];
    const changed = await other("PATCH", `/api/v1/servers/${s.id}`, { description: "changed elsewhere" }, { "if-match": `"${s.version}"` });
    assert.equal(changed.status, 200);
    await form.getByLabel("Description").fill("mine");
    await form.getByRole("button", { name: "Save changes" }).click();
    const conflict = page.getByRole("alertdialog", { name: "Changed by someone else" });
    await conflict.getByText("server “web-1”", { exact: false }).waitFor();
    await conflict.getByRole("button", { name: "Reload latest version" }).click();
    await conflict.waitFor({ state: "detached" });
    const form2 = page.getByRole("form", { name: "Edit server “web-1”" });
    await form2.getByText("changed elsewhere").waitFor();
    await form2.getByLabel("Labels row 1 value").fill("staging");
    await form2.getByRole("button", { name: "Save changes" }).click();
    await page.getByRole("status").filter({ hasText: "Server “web-1” saved" }).waitFor();
    await page.getByRole("heading", { name: "web-1", level: 1 }).waitFor();
    await page.getByText("env=staging").waitFor();
    await page.getByText("changed elsewhere", { exact: false }).first().waitFor();
  });

  test("a generated key the server does not accept fails at the auth step (red)", async () => {
    await nav("Servers");
    await page.getByRole("link", { name: "Add server", exact: true }).click();
    const form = page.getByRole("form", { name: "Add server" });
    await form.getByLabel("Name").fill("web-wrong-key");
    await form.getByLabel("Address").fill(fleet.hosts[0].addr);
    await form.getByRole("radio", { name: /Generate a key pair for me/ }).check();
    assert.equal(await form.getByLabel("Private key", { exact: true }).count(), 0);
    await shoot("23-server-form-generate");
    await form.getByRole("button", { name: "Add server" }).click();
    await page.getByRole("heading", { name: "web-wrong-key", level: 1 }).waitFor();
    // The public key and the command that authorizes it, with copy buttons.
    const cmd = await page.getByTestId("authorize-command").inputValue();
    assert.match(cmd, /authorized_keys/);
    assert.match(await page.getByTestId("public-key").inputValue(), /^ssh-ed25519 /);
    assert.ok(await page.getByRole("button", { name: "Copy authorize command" }).isVisible());
    assert.ok(await page.getByRole("button", { name: "Copy public key" }).isVisible());

    await page.getByRole("button", { name: "Check now" }).click();
    await step("auth").and(page.locator('[data-state="failed"]')).waitFor();
    for (const s of ["resolve", "tcp", "handshake", "host_key"]) await step(s).and(page.locator('[data-state="ok"]')).waitFor();
    await step("privilege").and(page.locator('[data-state="skipped"]')).waitFor();
    await page.getByTestId("server-status").locator('[data-status="auth_failed"]').waitFor();
    assert.equal(await page.getByTestId("server-status").locator(".badge").textContent(), "auth failed");
    await noHorizontalOverflow();
    await shoot("24-server-auth-failed");
  });

  test("delete asks for confirmation naming the server", async () => {
    await page.getByRole("button", { name: "Delete" }).click();
    const confirm = page.getByRole("alertdialog", { name: "Delete server “web-wrong-key”?" });
    await confirm.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Cancel", "focus starts on Cancel");
    await confirm.getByRole("button", { name: "Delete server" }).click();
    await page.getByRole("heading", { name: "Servers", level: 1 }).waitFor();
    await page.getByRole("status").filter({ hasText: "Server “web-wrong-key” deleted" }).waitFor();
    await page.getByRole("table", { name: "Servers" }).getByRole("row").filter({ hasText: "web-wrong-key" }).waitFor({ state: "detached" });
  });

  test("a viewer sees servers read-only, and badges update live", async () => {
    const adm = await apiSession(gantry.url, "admin", ADMIN_PASSWORD);
    assert.equal((await adm("POST", "/api/v1/users", { username: "vera", role: "viewer", password: "vera-password-1" })).status, 201);
    const created = await adm("POST", "/api/v1/servers", {
      name: "web-2",
      address: fleet.hosts[0].addr,
      credentials: { private_key: readFileSync(fleet.client_key_path, "utf8") },
    });
    assert.equal(created.status, 201);
    await signOut();
    await signInToDashboard("vera", "vera-password-1");
    await nav("Servers");
    const table = page.getByRole("table", { name: "Servers" });
    const row = table.getByRole("row").filter({ hasText: "web-2" });
    await row.locator('[data-status="unknown"]').waitFor();
    assert.equal(await page.getByRole("link", { name: "Add server" }).count(), 0, "viewers have no Add button");
    // A check started elsewhere: the badge changes without a reload (server.status_changed over SSE).
    const job = await adm("POST", `/api/v1/servers/${created.body.id}/check`);
    assert.equal(job.status, 202);
    await row.locator('[data-status="ok"]').waitFor();

    await table.getByRole("link", { name: "web-1" }).click();
    await page.getByRole("heading", { name: "web-1", level: 1 }).waitFor();
    for (const name of ["Check now", "Delete", "Accept new host key"]) assert.equal(await page.getByRole("button", { name }).count(), 0, `no ${name}`);
    assert.equal(await page.getByRole("link", { name: "Edit" }).count(), 0, "no Edit");
    await page.goto(`${gantry.url}/servers/new`);
    await page.getByRole("heading", { name: "You don't have access to this page" }).waitFor();
    await signOut();
  });

  test("no console errors, no CSP violations, no requests beyond 127.0.0.1", () => {
    assertNoProblems(problems);
  });
});
