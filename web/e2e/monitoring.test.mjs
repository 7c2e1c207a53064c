// End-to-end tests of the Monitoring pages against the real binary.
//
// Events and health (no fleet needed): server checks against a closed
// loopback port (127.0.0.1:9) write `server.check_failed` (warning) and
// `server.down` (error) to the event log; the Events page lists them,
// filters by severity and text, shows a 422 next to its filter, and shows a
// second check's entries live; the dashboard's Health tiles count them and
// link to the filtered lists; admins see the log level.
//
// Traffic (root only, like the proxy suite): `gantry-testfleet up --hosts 2`,
// host 1 an HTTP backend, host 0 the edge with Gantry's reverse proxy and one
// domain. The test sends a known number of requests through the edge (to the
// fleet's own namespace address), clicks "Collect now" and checks that the
// Traffic page counts exactly those requests, in the totals, the domain
// table and the chart's data. Periodic collection is off, so only the button
// collects.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  ADMIN_PASSWORD,
  apiSession,
  assertNoProblems,
  eventually,
  fleetSkip,
  httpGet,
  inHost,
  launchBrowser,
  pageKit,
  prepareSuite,
  problemSink,
  startFleet,
  startGantry,
  stopAll,
  watchedPage,
} from "./gantry.mjs";

const JOB_TIMEOUT = 90_000;

/** Waits for a job to end; returns it. */
async function finished(adm, id) {
  return eventually(`job ${id} ends`, JOB_TIMEOUT / 1000, async () => {
    const j = await adm("GET", `/api/v1/jobs/${id}`);
    return ["succeeded", "failed", "cancelled"].includes(j.body.status) ? j.body : null;
  });
}

describe("monitoring: events, health tiles and log level", { concurrency: false }, () => {
  // Failed requests the flow causes on purpose (the browser logs them as console errors).
  const EXPECTED_FAILURES = [
    { path: "/api/v1/auth/me", status: 401 }, // who is signed in, before login
    { path: "/api/v1/monitoring/events", status: 422 }, // the invalid filter, shown next to its field
    { path: "/api/v1/system/log-level", status: 422 }, // the bad directive, shown under the field
    { path: "/api/v1/system/log-level", status: 409 }, // a process that cannot reload its log level (then the card says so)
  ];
  const problems = problemSink();
  let gantry;
  let browser;
  let page;
  let adm;
  const servers = {};
  const { shoot, noHorizontalOverflow, signInToDashboard, nav } = pageKit(() => page);

  /** A server record nothing answers for (loopback, discard port, closed), and its failed check. */
  async function failingServer(name) {
    const s = await adm("POST", "/api/v1/servers", { name, address: "127.0.0.1", port: 9, credentials: { generate: true } });
    assert.equal(s.status, 201, JSON.stringify(s.body));
    const job = await adm("POST", `/api/v1/servers/${s.body.id}/check`);
    assert.equal(job.status, 202);
    servers[name] = { id: s.body.id, job: job.body.id };
    return servers[name];
  }

  before(async () => {
    prepareSuite(/^8\d-/);
    // No background probes: only the checks this test starts write entries.
    gantry = await startGantry({ env: { GANTRY_SERVERS__PROBE_INTERVAL_SECONDS: "0", GANTRY_MONITORING__TRAFFIC_INTERVAL_SECONDS: "0" } });
    adm = await apiSession(gantry.url, "admin", ADMIN_PASSWORD);
    browser = await launchBrowser();
    page = await watchedPage(browser, problems, { expected: EXPECTED_FAILURES, timeout: 15000, localOnly: true });
    await page.goto(`${gantry.url}/`);
    await signInToDashboard("admin", ADMIN_PASSWORD);
  });

  after(() => stopAll({ browser, gantry }));

  test("the Events page lists what a failed check wrote; severity and text filters work; a bad filter is named", async () => {
    const a = await failingServer("probe-a");
    const job = await finished(adm, a.job);
    assert.equal(job.status, "failed");
    // What the API says the check wrote: a warning for the check, an error for the server going down.
    const listed = await eventually("the entries are written", 10, async () => {
      const r = await adm("GET", `/api/v1/monitoring/events?entity_type=server&entity_id=${a.id}`);
      const kinds = r.body.items.map((e) => e.kind);
      return kinds.includes("server.check_failed") && kinds.includes("server.down") ? r.body.items : null;
    });
    const down = listed.find((e) => e.kind === "server.down");
    const checkFailed = listed.find((e) => e.kind === "server.check_failed");
    assert.equal(down.severity, "error");
    assert.equal(checkFailed.severity, "warning");
    assert.equal(checkFailed.job_id, a.job);

    await nav("Events");
    await page.getByRole("heading", { name: "Events", level: 1 }).waitFor();
    const table = page.getByRole("table", { name: "Events" });
    const downRow = table.getByRole("row").filter({ hasText: down.message });
    const checkRow = table.getByRole("row").filter({ hasText: checkFailed.message });
    await downRow.waitFor();
    await checkRow.waitFor();
    assert.equal(await downRow.locator('[data-severity="error"]').count(), 1);
    assert.equal(await downRow.getByRole("link", { name: "probe-a" }).getAttribute("href"), `/servers/${a.id}`);
    // The check's entry opens its job.
    await checkRow.getByRole("button", { name: `Open job ${a.job}` }).click();
    const drawer = page.getByRole("dialog", { name: new RegExp(`Job #${a.job}`) });
    await drawer.waitFor();
    await drawer.locator('[data-status="failed"]').first().waitFor();
    await page.keyboard.press("Escape");
    await drawer.waitFor({ state: "detached" });
    // Details expand as JSON.
    await downRow.getByRole("button", { name: `Details of server.down #${down.id}` }).click();
    const details = page.getByTestId(`event-${down.id}-details`);
    assert.deepEqual(JSON.parse(await details.locator("pre").textContent()), down.details);
    await noHorizontalOverflow();
    await shoot("80-events");

    // Minimum severity "error": the warning goes, the error stays; the URL keeps it.
    await page.getByLabel("Severity", { exact: true }).selectOption("error");
    await checkRow.waitFor({ state: "detached" });
    await downRow.waitFor();
    assert.match(page.url(), /severity=error/);
    const severities = await table.locator("[data-severity]").evaluateAll((els) => els.map((e) => e.getAttribute("data-severity")));
    assert.ok(severities.length > 0 && severities.every((s) => s === "error"), `only errors: ${severities}`);
    await page.reload();
    await downRow.waitFor();
    assert.equal(await page.getByLabel("Severity", { exact: true }).inputValue(), "error", "the filter survives a reload");

    // Text search (debounced): a match, then none.
    await page.getByLabel("Severity", { exact: true }).selectOption("");
    await checkRow.waitFor();
    await page.getByLabel("Search", { exact: true }).fill("unreachable");
    await checkRow.waitFor({ state: "detached" });
    await downRow.waitFor();
    await page.getByLabel("Search", { exact: true }).fill("no-such-text-anywhere");
    await page.getByRole("heading", { name: "No events match these filters" }).waitFor();
    await page.getByRole("button", { name: "Clear filters" }).click();
    await checkRow.waitFor();

    // An entity id without its type: the API's 422 shows under the field.
    await page.getByLabel("Entity id", { exact: true }).fill(String(a.id));
    const entityId = page.getByLabel("Entity id", { exact: true });
    await page.getByText("needs entity_type").waitFor();
    assert.equal(await entityId.getAttribute("aria-invalid"), "true");
    await page.getByLabel("Entity type", { exact: true }).selectOption("server");
    await downRow.waitFor();
    assert.equal(await page.getByText("needs entity_type").count(), 0);
    await page.getByRole("button", { name: "Clear filters" }).click();
    await checkRow.waitFor();
  });

  test("with the page open, a second check's entries appear live without a reload", async () => {
    const table = page.getByRole("table", { name: "Events" });
    // Let the last filter change (debounced) reach the list first: this test is about what arrives after it.
    await page.waitForTimeout(600);
    await page.locator("table[aria-busy]").waitFor({ state: "detached" });
    assert.equal(await page.getByRole("switch", { name: "Follow live" }).isChecked(), true);
    const marker = await page.evaluate(() => (window.__noReload = Math.random()));
    const b = await failingServer("probe-b");
    const row = table.getByRole("row").filter({ hasText: "Server probe-b is unreachable" });
    await row.waitFor({ timeout: 20_000 });
    assert.match((await row.getAttribute("class")) ?? "", /row-new/, "a live row is highlighted");
    await table.getByRole("row").filter({ hasText: "Check of server probe-b failed" }).waitFor();
    assert.equal(await page.evaluate(() => window.__noReload), marker, "the page was not reloaded");
    // Newest first: probe-b's entries are above probe-a's.
    const messages = await table.locator(".event-message").allTextContents();
    assert.ok(messages.findIndex((m) => m.includes("probe-b")) < messages.findIndex((m) => m.includes("probe-a")), messages.join(" | "));
    await finished(adm, b.job);

    // A live entry that does not match the filters stays out.
    await page.getByLabel("Search", { exact: true }).fill("probe-c");
    await page.getByRole("heading", { name: "No events match these filters" }).waitFor();
    await failingServer("probe-c");
    await table.getByRole("row").filter({ hasText: "Server probe-c is unreachable" }).waitFor({ timeout: 20_000 });
    await table.getByRole("row").filter({ hasText: "Check of server probe-c failed" }).waitFor();
    assert.equal(await table.getByRole("row").filter({ hasText: "probe-b" }).count(), 0);
    await page.getByRole("button", { name: "Clear filters" }).click();
  });

  test("admins see the log level and can change it; a bad directive is named", async () => {
    const card = page.getByRole("region", { name: "Log level" });
    await card.waitFor();
    const cur = await adm("GET", "/api/v1/system/log-level");
    if (cur.status === 409) {
      await card.getByTestId("log-level-unsupported").waitFor();
      return;
    }
    assert.equal(cur.status, 200);
    await card.getByTestId("log-level-current").getByText(cur.body.level, { exact: true }).waitFor();
    await card.getByTestId("log-level-configured").getByText(cur.body.configured, { exact: true }).waitFor();
    await card.getByLabel("New level", { exact: true }).fill("info,=x");
    await card.getByRole("button", { name: "Set level" }).click();
    await card.locator(".field-error").waitFor();
    assert.equal(await card.getByLabel("New level", { exact: true }).getAttribute("aria-invalid"), "true");
    await card.getByLabel("New level", { exact: true }).fill("warn,gantry_monitoring=info");
    await card.getByRole("button", { name: "Set level" }).click();
    await card.getByTestId("log-level-current").getByText("warn,gantry_monitoring=info", { exact: true }).waitFor();
    assert.equal((await adm("GET", "/api/v1/system/log-level")).body.level, "warn,gantry_monitoring=info");
    await shoot("81-log-level");
    if (cur.body.configured && cur.body.configured !== "warn,gantry_monitoring=info") {
      await card.getByRole("button", { name: `Back to “${cur.body.configured}”` }).click();
      await card.getByTestId("log-level-current").getByText(cur.body.configured, { exact: true }).waitFor();
    }
  });

  test("the dashboard's Health tiles count the problems, link to the filtered lists and follow live", async () => {
    await nav("Dashboard");
    const health = page.getByRole("region", { name: "Health" });
    const serversTile = health.getByTestId("tile-servers");
    await serversTile.waitFor();
    const summary = (await adm("GET", "/api/v1/monitoring/summary")).body;
    const unreachable = summary.servers.counts.unreachable;
    assert.equal(unreachable, 3, JSON.stringify(summary.servers));
    assert.equal(await serversTile.getAttribute("data-tone"), "danger");
    const link = serversTile.getByRole("link", { name: `Servers: ${unreachable} unreachable` });
    assert.equal(await link.getAttribute("href"), "/servers?status=unreachable");
    const eventsTile = health.getByTestId("tile-events");
    const errors = summary.events.counts.error;
    assert.ok(errors >= 3, JSON.stringify(summary.events));
    await eventsTile.getByRole("link", { name: `Events (24 h): ${errors} errors` }).waitFor();
    assert.equal(await eventsTile.getAttribute("data-tone"), "danger");
    const jobsTile = health.getByTestId("tile-jobs");
    await jobsTile.getByRole("link", { name: `Jobs: ${summary.jobs.counts.failed} failed` }).waitFor();
    await health.getByTestId("tile-tasks").getByRole("link", { name: "Tasks: 0 overdue" }).waitFor();
    assert.equal(await health.getByTestId("tile-tasks").getAttribute("data-tone"), "ok", "no problem: a calm tile");
    await noHorizontalOverflow();
    await shoot("82-dashboard-health");

    // Live: another server goes down while the dashboard is open.
    const d = await failingServer("probe-d");
    await serversTile.getByRole("link", { name: `Servers: ${unreachable + 1} unreachable` }).waitFor({ timeout: 20_000 });
    await finished(adm, d.job);

    // The count links to the filtered servers list.
    await serversTile.getByRole("link", { name: `Servers: ${unreachable + 1} unreachable` }).click();
    await page.getByRole("heading", { name: "Servers", level: 1 }).waitFor();
    assert.match(page.url(), /\/servers\?status=unreachable$/);
    assert.equal(await page.getByLabel("Status", { exact: true }).inputValue(), "unreachable");
    const serversTable = page.getByRole("table", { name: "Servers" });
    for (const name of ["probe-a", "probe-b", "probe-c", "probe-d"]) await serversTable.getByRole("link", { name }).waitFor();

    // The errors count opens the event log at severity error, last 24 hours.
    await nav("Dashboard");
    const errorsNow = (await adm("GET", "/api/v1/monitoring/summary")).body.events.counts.error;
    await eventsTile.getByRole("link", { name: `Events (24 h): ${errorsNow} errors` }).click();
    await page.getByRole("heading", { name: "Events", level: 1 }).waitFor();
    const url = new URL(page.url());
    assert.equal(url.pathname, "/monitoring/events");
    assert.equal(url.searchParams.get("severity"), "error");
    assert.ok(Math.abs(Date.parse(url.searchParams.get("since")) - (Date.now() - 86400_000)) < 120_000, url.search);
    assert.equal(await page.getByLabel("Time range", { exact: true }).inputValue(), "custom");
    const table = page.getByRole("table", { name: "Events" });
    await table.getByRole("row").filter({ hasText: "Server probe-d is unreachable" }).waitFor();
    const shown = await table.locator("[data-severity]").evaluateAll((els) => els.map((e) => e.getAttribute("data-severity")));
    assert.equal(shown.length, errorsNow, `the list shows the tile's ${errorsNow} errors: ${shown}`);
    assert.ok(shown.every((s) => s === "error"));

    // The failed-jobs count opens the jobs list filtered the same way.
    await nav("Dashboard");
    await jobsTile.getByRole("link", { name: /^Jobs: \d+ failed$/ }).click();
    await page.getByRole("heading", { name: "Jobs", level: 1 }).waitFor();
    assert.equal(await page.getByLabel("Status", { exact: true }).inputValue(), "failed");
  });

  test("no console errors, no CSP violations, no requests beyond 127.0.0.1", () => {
    assertNoProblems(problems);
  });
});

// --- traffic against a real fleet ------------------------------------------------

const skip = fleetSkip("monitoring traffic", "network namespaces, a real sshd and nginx", "the Traffic page");
const DOMAIN = "traffic.example.test";

describe("monitoring: traffic through a real fleet proxy", { concurrency: false, skip }, () => {
  const EXPECTED_FAILURES = [{ path: "/api/v1/auth/me", status: 401 }];
  const problems = problemSink();
  let fleet;
  let gantry;
  let browser;
  let page;
  let adm;
  let edgeId;
  /** Every request this test sent through the edge for DOMAIN, by status. */
  const sent = { total: 0, 200: 0, 404: 0, 500: 0 };
  const { shoot, noHorizontalOverflow, signInToDashboard, nav } = pageKit(() => page);



  /** A request for DOMAIN through the edge, counted when the edge answered it. */
  async function throughEdge(path) {
    const r = await httpGet(fleet.hosts[0].addr, 80, DOMAIN, path);
    if (r.status > 0) {
      sent.total++;
      sent[r.status] = (sent[r.status] ?? 0) + 1;
    }
    return r;
  }

  before(async () => {
    prepareSuite(/^9\d-/);
    fleet = startFleet(2);
    // Host 1: a backend on 8080 with a 200, a 404 and a 500.
    writeFileSync(
      join(fleet.hosts[1].dir, "etc-nginx/conf.d/backend.conf"),
      [
        "server {",
        "  listen 8080;",
        "  default_type text/plain;",
        '  location / { return 200 "backend\\n"; }',
        '  location /missing { return 404 "missing\\n"; }',
        '  location /boom { return 500 "boom\\n"; }',
        "}",
        "",
      ].join("\n"),
    );
    inHost(fleet, 1, ["/usr/sbin/nginx"]);
    await eventually("the backend answers", 10, async () => (await httpGet(fleet.hosts[1].addr, 8080, "x")).body === "backend\n");

    gantry = await startGantry({
      env: {
        GANTRY_PROXY__DEBOUNCE_MS: "300",
        GANTRY_PROXY__DRIFT_INTERVAL_SECONDS: "0",
        GANTRY_SERVERS__PROBE_INTERVAL_SECONDS: "0",
        // Only "Collect now" collects: the counts are exactly what the test sent.
        GANTRY_MONITORING__TRAFFIC_INTERVAL_SECONDS: "0",
      },
    });
    adm = await apiSession(gantry.url, "admin", ADMIN_PASSWORD);

    // The edge with Gantry's proxy, and one domain to the backend (through the API: the proxy suite covers the pages).
    const srv = await adm("POST", "/api/v1/servers", { name: "edge", address: fleet.hosts[0].addr, credentials: { private_key: readFileSync(fleet.client_key_path, "utf8") } });
    assert.equal(srv.status, 201, JSON.stringify(srv.body));
    edgeId = srv.body.id;
    const check = await adm("POST", `/api/v1/servers/${edgeId}/check`);
    assert.equal((await finished(adm, check.body.id)).status, "succeeded");
    const install = await adm("POST", `/api/v1/servers/${edgeId}/proxy/install`);
    assert.equal(install.status, 202, JSON.stringify(install.body));
    assert.equal((await finished(adm, install.body.id)).status, "succeeded");
    const group = await adm("POST", "/api/v1/domain-groups", { name: "web", server_id: edgeId });
    assert.equal(group.status, 201, JSON.stringify(group.body));
    const domain = await adm("POST", "/api/v1/domains", { group_id: group.body.id, name: DOMAIN, target_ip: fleet.hosts[1].addr, target_port: 8080 });
    assert.equal(domain.status, 201, JSON.stringify(domain.body));
    // Until the domain is live the edge's default server answers (and logs nothing): count only what the backend answered.
    await eventually("the domain is served through the edge", 45, async () => {
      const r = await httpGet(fleet.hosts[0].addr, 80, DOMAIN, "/");
      if (r.status !== 200 || r.body !== "backend\n") return false;
      sent.total++;
      sent[200]++;
      return true;
    });

    browser = await launchBrowser();
    page = await watchedPage(browser, problems, { expected: EXPECTED_FAILURES, timeout: 15000, localOnly: true });
    await page.goto(`${gantry.url}/`);
    await signInToDashboard("admin", ADMIN_PASSWORD);
  });

  after(() => stopAll({ browser, gantry, fleet }));

  test("the Traffic page counts exactly the requests sent through the edge, after Collect now", async () => {
    // A known mix on top of the warm-up: 2xx, 4xx and 5xx.
    for (let i = 0; i < 12; i++) assert.equal((await throughEdge("/")).status, 200);
    for (let i = 0; i < 5; i++) assert.equal((await throughEdge("/missing")).status, 404);
    for (let i = 0; i < 3; i++) assert.equal((await throughEdge("/boom")).status, 500);
    assert.ok(sent.total >= 21, JSON.stringify(sent));

    await nav("Traffic");
    await page.getByRole("heading", { name: "Traffic", level: 1 }).waitFor();
    await page.getByRole("button", { name: "Collect now" }).click();
    await page.getByRole("status").filter({ hasText: /Collected from 1 server: \d+ log lines/ }).waitFor({ timeout: JOB_TIMEOUT });

    const total = page.getByTestId("total-requests");
    await total.getByText(String(sent.total), { exact: true }).waitFor();
    const domains = page.getByRole("table", { name: "Traffic by domain" });
    await domains.getByTestId(`domain-requests-${DOMAIN}`).getByText(String(sent.total), { exact: true }).waitFor();
    const row = domains.getByRole("row").filter({ hasText: DOMAIN });
    assert.equal((await row.locator("td").nth(3).textContent()).trim(), String(sent[500]), "5xx in the domain row");

    // The chart has the data: a canvas, and the sum of its series is what was sent.
    const chart = page.getByTestId("chart-requests");
    assert.equal(await chart.getAttribute("data-total"), String(sent.total));
    assert.ok(Number(await chart.getAttribute("data-points")) > 0);
    assert.ok((await chart.locator("canvas").count()) >= 1, "uPlot drew a canvas");
    const box = await chart.locator("canvas").first().boundingBox();
    assert.ok(box && box.width > 200 && box.height > 100, `canvas size ${JSON.stringify(box)}`);
    await page.getByTestId("chart-errors").locator("canvas").first().waitFor();
    await page.getByTestId("chart-latency").locator("canvas").first().waitFor();

    // The collection state of the edge: collected, no error.
    const status = page.getByRole("table", { name: "Collection status" });
    const edge = status.getByRole("row").filter({ hasText: "edge" });
    await edge.getByText("ok", { exact: true }).waitFor();
    await noHorizontalOverflow();
    await shoot("90-traffic");

    // Server and domain selectors and the range live in the URL; a reload keeps them.
    await page.getByLabel("Time range", { exact: true }).selectOption("1h");
    await page.getByLabel("Server", { exact: true }).selectOption({ label: "edge" });
    await page.getByLabel("Domain", { exact: true }).selectOption(DOMAIN);
    await page.waitForURL(/range=1h/);
    assert.match(page.url(), new RegExp(`server=${edgeId}`));
    assert.match(page.url(), new RegExp(`domain=${DOMAIN.replace(/\./g, "\\.")}`));
    await page.reload();
    await total.getByText(String(sent.total), { exact: true }).waitFor();
    assert.equal(await page.getByLabel("Domain", { exact: true }).inputValue(), DOMAIN);

    // Dark theme: the chart is rebuilt with the dark palette and still has its data.
    await page.emulateMedia({ colorScheme: "dark" });
    await page.waitForTimeout(200);
    assert.ok((await chart.locator("canvas").count()) >= 1);
    assert.equal(await chart.getAttribute("data-total"), String(sent.total));
    await page.emulateMedia({ colorScheme: "light" });
  });

  test("no console errors, no CSP violations, no requests beyond 127.0.0.1", () => {
    assertNoProblems(problems);
  });
});
