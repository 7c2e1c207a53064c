// End-to-end tests of the reverse-proxy pages against a REAL fleet: two
// hosts from `gantry-testfleet up --hosts 2`, each with its own sshd and the
// machine's nginx in its own namespaces. Host 0 is the edge (Gantry installs
// its proxy there from the browser); host 1 is a small HTTP backend on port
// 8080. Needs root (namespaces, veths): without root the suite is skipped
// with a loud message, except under CI=true where it fails. The fleet is
// always brought down at the end.
//
// Traffic: the browser talks only to gantry on 127.0.0.1; gantry talks to
// the fleet hosts over SSH; this test process checks one request through
// the edge to the backend (plain HTTP with a Host header).
//
// Dynamic reconciliation runs with a short debounce; the periodic sweep is
// slowed down (1 h) so the rollback stays in place until the test rolls the
// pending changes out itself.
import assert from "node:assert/strict";
import { readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ADMIN_PASSWORD, apiSession, assertNoProblems, eventually, fleetSkip, httpGet, inHost, launchBrowser, pageKit, prepareSuite, problemSink, startFleet, startGantry, stopAll, watchedPage } from "./gantry.mjs";

const skip = fleetSkip("proxy", "network namespaces, a real sshd and nginx", "the Proxy pages");

// Failed requests the flow causes on purpose (logged by the browser as console errors).
const EXPECTED_FAILURES = [
  { path: "/api/v1/auth/me", status: 401 }, // who is signed in, before login
];

const DOMAIN = "app.example.test";
const JOB_TIMEOUT = 90_000;

let fleet;
let gantry;
let browser;
let page;
let edgeId;
/** The generation that first serves the domain (2, or 3 when the empty group went live on its own first). */
let n;
const { shoot, noHorizontalOverflow, signInToDashboard, signOut, nav } = pageKit(() => page);
const problems = problemSink();



/** A file of the live generation on host `i`, as the test process sees it. */
function liveFile(i, name) {
  const etc = join(fleet.hosts[i].dir, "etc-nginx");
  const link = readlinkSync(join(etc, "gantry/live"));
  // The host sees <dir>/etc-nginx as /etc/nginx: never follow an absolute link out of it.
  const dir = isAbsolute(link) ? join(etc, link.replace(/^\/etc\/nginx\/?/, "")) : join(etc, "gantry", link);
  assert.ok(dir.startsWith(etc), `live generation directory inside the host (${dir})`);
  return join(dir, name);
}

const proxyStatus = () => page.getByTestId("proxy-status");
const generationsTable = () => page.getByRole("table", { name: "Generations" });
const genRow = (n) => generationsTable().getByRole("row").filter({ has: page.getByRole("link", { name: `Generation ${n}`, exact: true }) });

describe("reverse proxy pages against a real fleet", { concurrency: false, skip }, () => {
  before(async () => {
    prepareSuite(/^4\d-/);
    fleet = startFleet(2);

    // Host 1: a backend answering on 8080 (its own nginx, inside the host's namespaces).
    writeFileSync(
      join(fleet.hosts[1].dir, "etc-nginx/conf.d/backend.conf"),
      'server {\n  listen 8080;\n  location / {\n    default_type text/plain;\n    return 200 "backend\\n";\n  }\n}\n',
    );
    inHost(fleet, 1, ["/usr/sbin/nginx"]);
    await eventually("the backend answers", 10, async () => (await httpGet(fleet.hosts[1].addr, 8080, "x")).body === "backend\n");

    gantry = await startGantry({
      env: {
        GANTRY_PROXY__DEBOUNCE_MS: "300",
        GANTRY_PROXY__RECONCILE_INTERVAL_SECONDS: "3600",
        GANTRY_PROXY__DRIFT_INTERVAL_SECONDS: "0",
      },
    });
    browser = await launchBrowser();
    // Only gantry (127.0.0.1) may be contacted by the browser.
    page = await watchedPage(browser, problems, { expected: EXPECTED_FAILURES, timeout: 15000, localOnly: true });
    await page.goto(`${gantry.url}/`);
    await signInToDashboard("admin", ADMIN_PASSWORD);
  });

  after(() => stopAll({ browser, gantry, fleet }));

  test("add the edge server, install the reverse proxy and watch the job live", async () => {
    const host = fleet.hosts[0];
    await nav("Servers");
    await page.getByRole("link", { name: "Add server", exact: true }).click();
    const form = page.getByRole("form", { name: "Add server" });
    await form.getByLabel("Name").fill("edge");
    await form.getByLabel("Address").fill(host.addr);
    await form.getByLabel("Private key", { exact: true }).fill(readFileSync(fleet.client_key_path, "utf8"));
    assert.equal(await form.getByLabel("Install the reverse proxy automatically once the server is reachable").isChecked(), false);
    await form.getByRole("button", { name: "Add server" }).click();
    await page.getByRole("heading", { name: "edge", level: 1 }).waitFor();
    edgeId = Number(new URL(page.url()).pathname.split("/").pop());
    assert.ok(edgeId > 0);

    await proxyStatus().locator('[data-status="not_installed"]').waitFor();
    assert.equal(await page.getByRole("region", { name: "Pending changes" }).count(), 0, "no plan before the install");
    await page.getByRole("button", { name: "Check now" }).click();
    await page.getByTestId("server-status").locator('[data-status="ok"]').waitFor({ timeout: 30_000 });

    const card = page.getByTestId("proxy-card");
    await card.getByRole("button", { name: "Install", exact: true }).click();
    const job = page.getByTestId("proxy-job");
    await job.getByText("Installing the reverse proxy").waitFor();
    // The job's messages arrive over SSE while it runs.
    await job.getByRole("list", { name: "Installing the reverse proxy: log" }).getByText(/detecting the OS|nginx/).first().waitFor({ timeout: JOB_TIMEOUT });
    await job.locator('.job-progress [data-status="succeeded"]').waitFor({ timeout: JOB_TIMEOUT });
    await page.getByRole("status").filter({ hasText: "Reverse proxy installed on “edge”" }).waitFor();
    await proxyStatus().locator('[data-status="in_sync"]').waitFor();
    const install = page.getByTestId("proxy-install");
    await install.getByText("no systemd: Gantry starts nginx").waitFor();
    assert.match(await install.locator("dd.mono").first().textContent(), /\d+\.\d+/, "nginx version shown");
    await page.getByRole("list", { name: "Install notes" }).getByText(/boot/).waitFor();
    await genRow(1).locator('[data-status="install"]').waitFor();
    await genRow(1).locator('[data-status="live"]').waitFor();
    await page.getByTestId("proxy-plan").getByText("Nothing pending").waitFor();
    await noHorizontalOverflow();
    await shoot("40-server-proxy-installed");
  });

  test("a group with a domain goes live by itself; its generation shows the highlighted diff", async () => {
    await nav("Domains");
    await page.getByRole("button", { name: "New group" }).click();
    const dialog = page.getByRole("dialog", { name: "New domain group" });
    await dialog.getByLabel("Name").fill("web");
    await dialog.getByLabel("Server").selectOption({ label: "edge" });
    await dialog.getByRole("button", { name: "Create group" }).click();
    await page.getByRole("heading", { name: "web", level: 1 }).waitFor();
    await page.getByRole("link", { name: "Add domain", exact: true }).click();
    const form = page.getByRole("form", { name: "Add domain" });
    await page.waitForFunction(() => /** @type {HTMLSelectElement|null} */ (document.querySelector('select[name="group_id"]'))?.selectedOptions[0]?.textContent?.startsWith("web"));
    await form.getByLabel("Name", { exact: true }).fill(DOMAIN);
    await form.getByLabel("Target IP").fill(fleet.hosts[1].addr);
    await form.getByLabel("Target port").fill("8080");
    await form.getByRole("button", { name: "Add domain" }).click();
    await page.getByRole("status").filter({ hasText: `Domain “${DOMAIN}” added` }).waitFor();

    // No apply: dynamic reconciliation puts it live, and the server page follows over SSE.
    await page.locator(".page-description").getByRole("link", { name: "edge" }).click();
    await page.getByRole("heading", { name: "edge", level: 1 }).waitFor();
    const served = await eventually("the domain is served through the edge", 30, async () => {
      const r = await httpGet(fleet.hosts[0].addr, 80, DOMAIN);
      return r.status === 200 && r.body === "backend\n" ? r : null;
    });
    assert.equal(served.body, "backend\n");
    const adm = await apiSession(gantry.url, "admin", ADMIN_PASSWORD);
    const st = await eventually("the edge is in sync", 20, async () => {
      const r = await adm("GET", `/api/v1/servers/${edgeId}/proxy`);
      return r.body.status === "in_sync" && r.body.live?.number >= 2 ? r.body : null;
    });
    n = st.live.number;
    await proxyStatus().locator('[data-status="in_sync"]').waitFor();
    await genRow(n).locator('[data-status="live"]').waitFor();
    await genRow(n).locator('[data-status="auto"]').waitFor();
    await genRow(1).locator('[data-status="superseded"]').waitFor();

    await genRow(n).getByRole("link", { name: `Generation ${n}` }).click();
    await page.getByRole("heading", { name: `Generation ${n}`, level: 1 }).waitFor();
    await page.getByTestId("generation-live").waitFor();
    await page.getByRole("list", { name: "Added domains" }).getByText(DOMAIN).waitFor();
    const diff = page.getByRole("region", { name: `Diff of generation ${n}` });
    // Highlighted: directives, numbers, variables and added lines carry their classes.
    await diff.locator(".cl-add .tok-directive", { hasText: "server_name" }).first().waitFor();
    await diff.locator(".cl-add .tok-variable", { hasText: "$host" }).first().waitFor();
    await diff.locator(".cl-add .tok-number", { hasText: "80" }).first().waitFor();
    await diff.locator(".cl-add .tok-comment").first().waitFor();
    assert.ok((await diff.locator(".cl-add").count()) > 10, "the new group file is added line by line");
    await diff.getByRole("region", { name: /group-1\.conf: (new file|changed)/ }).waitFor();
    await page.getByTestId("timings").getByText("Total").waitFor();
    const file = page.locator("details.file-disclosure").filter({ hasText: "group-1.conf" });
    assert.equal(await file.getAttribute("open"), null, "files start collapsed");
    await file.locator("summary").click();
    await file.getByRole("region", { name: "File group-1.conf" }).or(file.locator('pre[aria-label="File group-1.conf"]')).first().waitFor();
    await file.locator(".tok-directive", { hasText: "proxy_pass" }).first().waitFor();
    assert.equal(await page.getByRole("button", { name: "Roll back to this generation" }).count(), 0, "the live generation cannot be rolled back to");
    await noHorizontalOverflow();
    await shoot("41-generation");

    // The domain's form says it is live.
    await nav("Domains");
    await page.getByRole("table", { name: "Domains" }).getByRole("link", { name: DOMAIN }).first().click();
    await page.getByTestId("domain-live").getByText(`Live on edge (generation ${n})`).waitFor();
  });

  test("roll back to generation 1: a new generation with trigger rollback, and the change shows as pending", async () => {
    await page.goto(`${gantry.url}/servers/${edgeId}/proxy/generations/1`);
    await page.getByRole("heading", { name: "Generation 1", level: 1 }).waitFor();
    await page.getByRole("button", { name: "Roll back to this generation" }).click();
    const confirm = page.getByRole("alertdialog", { name: "Roll back “edge” to generation 1?" });
    await confirm.getByText(`generation ${n} is live now`, { exact: false }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Cancel", "focus starts on Cancel");
    await confirm.getByLabel("Reason").fill("e2e: back to the empty configuration");
    await confirm.getByRole("button", { name: "Roll back" }).click();
    await confirm.waitFor({ state: "detached" });
    await page.getByTestId("proxy-job").locator('.job-progress [data-status="succeeded"]').waitFor({ timeout: JOB_TIMEOUT });
    const result = page.getByTestId("rollback-result");
    await result.getByRole("link", { name: String(n + 1) }).waitFor();
    await page.getByRole("status").filter({ hasText: `Rolled back to generation 1: generation ${n + 1} is live` }).waitFor();
    const gone = await eventually("the domain is no longer served", 20, async () => {
      const r = await httpGet(fleet.hosts[0].addr, 80, DOMAIN);
      return r.body !== "backend\n" ? r : null;
    });
    assert.notEqual(gone.body, "backend\n");

    await page.getByRole("link", { name: "edge" }).first().click();
    await page.getByRole("heading", { name: "edge", level: 1 }).waitFor();
    await genRow(n + 1).locator('[data-status="rollback"]').waitFor();
    await genRow(n + 1).getByText("of #1").waitFor();
    await genRow(n + 1).getByText("e2e: back to the empty configuration").waitFor();
    const plan = page.getByTestId("proxy-plan");
    await plan.getByRole("list", { name: "Added domains" }).getByText(DOMAIN).waitFor();
    const diff = plan.getByRole("region", { name: "Pending configuration diff" });
    await diff.locator(".cl-add .tok-directive", { hasText: "proxy_pass" }).first().waitFor();
    await plan.getByRole("button", { name: "Apply changes…" }).waitFor();
    await noHorizontalOverflow();
    await shoot("42-server-proxy-pending");
  });

  test("check drift: the files on the server match the live generation", async () => {
    await page.getByTestId("proxy-card").getByRole("button", { name: "Check drift" }).click();
    await page.getByRole("status").filter({ hasText: `No drift on “edge”: its files match generation ${n + 1}` }).waitFor();
    assert.equal(await page.getByTestId("proxy-drift").count(), 0);
  });

  test("Proxy page: fleet overview, roll out the pending changes, follow the rollout live", async () => {
    await nav("Proxy");
    await page.getByRole("heading", { name: "Proxy", level: 1 }).waitFor();
    const row = page.getByRole("table", { name: "Proxy servers" }).getByRole("row").filter({ hasText: "edge" });
    await row.getByRole("link", { name: `#${n + 1}` }).waitFor();
    await row.locator('[data-status="rollback"]').waitFor();
    await page.getByTestId("proxy-counts").getByText(/1 (in sync|pending)/).waitFor();
    await page.getByRole("table", { name: "Rollouts" }).getByRole("heading", { name: "No rollouts yet" }).waitFor();
    await noHorizontalOverflow();

    await page.getByRole("button", { name: "Roll out pending changes" }).click();
    const dialog = page.getByRole("dialog", { name: "Roll out pending changes" });
    await dialog.getByText("1 of 1 installed server.").waitFor();
    await dialog.getByLabel("Canary", { exact: true }).selectOption({ label: "edge" });
    await dialog.getByLabel("Reason").fill("e2e rollout");
    await shoot("43-rollout-dialog");
    await dialog.getByRole("button", { name: "Start rollout (1 server)" }).click();
    await page.getByRole("heading", { name: /^Rollout #\d+$/, level: 1 }).waitFor();
    await page.getByRole("status").filter({ hasText: /Rollout #\d+ started on 1 server/ }).waitFor();
    const target = page.getByRole("table", { name: "Rollout servers" }).getByRole("row").filter({ hasText: "edge" });
    await target.getByText("canary").waitFor();
    await target.locator('[data-status="succeeded"]').waitFor({ timeout: JOB_TIMEOUT });
    await page.locator(".page-description").locator('[data-status="succeeded"]').waitFor({ timeout: JOB_TIMEOUT });
    await target.getByRole("link", { name: `#${n + 2}` }).waitFor();
    await page.getByTestId("rollout-progress").getByText("1 of 1 server done").waitFor();
    await noHorizontalOverflow();
    await shoot("44-rollout");
    await eventually("the domain is served again", 20, async () => (await httpGet(fleet.hosts[0].addr, 80, DOMAIN)).body === "backend\n");

    await page.getByRole("link", { name: "Proxy" }).first().click();
    const rollouts = page.getByRole("table", { name: "Rollouts" });
    await rollouts.getByRole("row").filter({ hasText: "e2e rollout" }).locator('[data-status="succeeded"]').waitFor();
    await row.getByRole("link", { name: `#${n + 2}` }).waitFor();
    await row.locator('[data-status="rollout"]').waitFor();
    await noHorizontalOverflow();
    await shoot("45-proxy");
  });

  test("a hand edit shows as drift with its diff; Re-apply repairs it", async () => {
    await page.goto(`${gantry.url}/servers/${edgeId}`);
    await page.getByRole("heading", { name: "edge", level: 1 }).waitFor();
    const file = liveFile(0, "group-1.conf");
    const expected = readFileSync(file, "utf8");
    writeFileSync(file, expected.replace("proxy_pass http://", "proxy_pass http://127.0.0.1:9;# was "));
    await page.getByTestId("proxy-card").getByRole("button", { name: "Check drift" }).click();
    await page.getByRole("alert").filter({ hasText: "Drift on “edge”: 1 file differs" }).waitFor();
    const drift = page.getByTestId("proxy-drift");
    await drift.locator(".drift-file-head").getByText("changed", { exact: true }).waitFor();
    await drift.locator(".cl-add .tok-comment", { hasText: "# was" }).first().waitFor();
    await proxyStatus().locator('[data-status="drifted"]').waitFor();
    await noHorizontalOverflow();
    await shoot("46-server-proxy-drift");

    await drift.getByRole("button", { name: "Re-apply" }).click();
    const dialog = page.getByRole("alertdialog", { name: "Re-apply the configuration to “edge”?" });
    await dialog.getByLabel("Reason").fill("undo the hand edit");
    await dialog.getByRole("button", { name: "Re-apply" }).click();
    await page.getByRole("status").filter({ hasText: "Configuration re-applied to “edge”" }).waitFor({ timeout: JOB_TIMEOUT });
    await proxyStatus().locator('[data-status="in_sync"]').waitFor();
    await page.getByTestId("proxy-drift").waitFor({ state: "detached" });
    await genRow(n + 3).getByText("undo the hand edit").waitFor();
    assert.equal(readFileSync(liveFile(0, "group-1.conf"), "utf8"), expected, "the hand edit is gone");

    // Uninstall asks first, naming the server, with the package option.
    await page.getByTestId("proxy-card").getByRole("button", { name: "Uninstall" }).click();
    const confirm = page.getByRole("alertdialog", { name: "Uninstall the reverse proxy from “edge”?" });
    await confirm.getByLabel("Also remove the nginx package").check();
    await confirm.getByRole("button", { name: "Uninstall and remove nginx" }).waitFor();
    await confirm.getByRole("button", { name: "Cancel" }).click();
    await confirm.waitFor({ state: "detached" });
  });

  test("group setting: repair drift automatically", async () => {
    await nav("Domains");
    await page.getByRole("table", { name: "Domain groups" }).getByRole("link", { name: "web" }).click();
    await page.getByRole("heading", { name: "web", level: 1 }).waitFor();
    const settings = page.getByRole("form", { name: "Group settings" });
    await settings.getByLabel("Repair drift automatically").check();
    await settings.getByRole("button", { name: "Save group" }).click();
    await page.getByRole("status").filter({ hasText: "Group “web” saved" }).waitFor();
    await page.locator(".page-description").getByText("auto repair").waitFor();
    const adm = await apiSession(gantry.url, "admin", ADMIN_PASSWORD);
    const groups = await adm("GET", "/api/v1/domain-groups?q=web");
    assert.equal(groups.body.items[0].auto_repair, true);
  });

  test("a server added with automatic install gets the proxy once it is reachable", async () => {
    await nav("Servers");
    await page.getByRole("link", { name: "Add server", exact: true }).click();
    const form = page.getByRole("form", { name: "Add server" });
    await form.getByLabel("Name").fill("backend");
    await form.getByLabel("Address").fill(fleet.hosts[1].addr);
    await form.getByLabel("Private key", { exact: true }).fill(readFileSync(fleet.client_key_path, "utf8"));
    await form.getByLabel("Install the reverse proxy automatically once the server is reachable").check();
    await form.getByRole("button", { name: "Add server" }).click();
    await page.getByRole("heading", { name: "backend", level: 1 }).waitFor();
    await page.getByText("proxy_auto_install=true").waitFor();
    await page.getByRole("button", { name: "Check now" }).click();
    await page.getByTestId("server-status").locator('[data-status="ok"]').waitFor({ timeout: 30_000 });
    // server.status_changed → ok starts the install by itself; the card follows over SSE.
    await proxyStatus().locator('[data-status="in_sync"]').waitFor({ timeout: JOB_TIMEOUT });
    await genRow(1).locator('[data-status="install"]').waitFor();
    // The backend keeps answering next to Gantry's configuration.
    assert.equal((await httpGet(fleet.hosts[1].addr, 8080, "x")).body, "backend\n");

    await nav("Dashboard");
    await page.getByTestId("dashboard-proxy").getByText("2 in sync").waitFor();
  });

  test("a viewer sees the proxy read-only", async () => {
    const adm = await apiSession(gantry.url, "admin", ADMIN_PASSWORD);
    assert.equal((await adm("POST", "/api/v1/users", { username: "vic", role: "viewer", password: "vic-password-1" })).status, 201);
    await signOut();
    await signInToDashboard("vic", "vic-password-1");
    await page.goto(`${gantry.url}/servers/${edgeId}`);
    await proxyStatus().locator('[data-status="in_sync"]').waitFor();
    for (const name of ["Install", "Check drift", "Uninstall", "Re-apply", "Apply changes…"]) {
      assert.equal(await page.getByRole("button", { name, exact: true }).count(), 0, `no ${name}`);
    }
    await page.goto(`${gantry.url}/servers/${edgeId}/proxy/generations/1`);
    await page.getByRole("heading", { name: "Generation 1", level: 1 }).waitFor();
    assert.equal(await page.getByRole("button", { name: "Roll back to this generation" }).count(), 0);
    await nav("Proxy");
    await page.getByRole("table", { name: "Rollouts" }).getByRole("row").filter({ hasText: "e2e rollout" }).waitFor();
    assert.equal(await page.getByRole("button", { name: "Roll out pending changes" }).count(), 0);
    await signOut();
  });

  test("no console errors, no CSP violations, no requests beyond 127.0.0.1", () => {
    assertNoProblems(problems);
  });
});
