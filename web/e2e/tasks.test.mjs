// End-to-end tests of the Tasks page against the real binary: quick add,
// complete, filter and search, reorder by drag and by keyboard (checked
// through the API), the drawer (Markdown description, an attachment dropped
// in and downloaded byte for byte), live updates from another session, and
// the server page's open tasks, the admin's attachment storage dialog (an S3
// endpoint on a closed loopback port: refused at once, nothing saved), and a self-registered viewer. No fleet: the server is only a record on a
// documentation address that nothing contacts (probes are off).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { ADMIN_PASSWORD, apiSession, assertNoProblems, launchBrowser, pageKit, prepareSuite, problemSink, startGantry, stopAll, watchedPage } from "./gantry.mjs";

// Failed requests the flow causes on purpose (logged by the browser as console errors).
const EXPECTED_FAILURES = [
  { path: "/api/v1/auth/me", status: 401 }, // who is signed in, before login
  { path: "/api/v1/tasks/storage", status: 422 }, // S3 settings refused: plain http, then the failed probe
];

let gantry;
let browser;
let page;
let adm;
let serverId;
const { shoot, noHorizontalOverflow, signInToDashboard, signOut, nav } = pageKit(() => page);
const problems = problemSink();

const table = () => page.getByRole("table", { name: "Tasks" });
const row = (title) => table().getByRole("row", { name: title, exact: true });

/** Titles of the open tasks in the manual order, as the API has them. */
async function apiOrder() {
  const res = await adm("GET", "/api/v1/tasks?completed=false&limit=500");
  assert.equal(res.status, 200);
  return res.body.items.map((t) => t.title);
}

/** Rows of the table, top to bottom. */
async function shownOrder() {
  return page.locator("table.task-table tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("aria-label")));
}

async function quickAdd(title) {
  const input = page.getByRole("textbox", { name: "New task" });
  await input.fill(title);
  await input.press("Enter");
  await page.getByRole("status").filter({ hasText: `Task “${title}” added` }).first().waitFor();
  await row(title).waitFor();
}

describe("tasks page", { concurrency: false }, () => {
  before(async () => {
    prepareSuite(/^7\d-/);
    gantry = await startGantry({ env: { GANTRY_SERVERS__PROBE_INTERVAL_SECONDS: "0", GANTRY_AUTH__SELF_REGISTRATION: "true" } });
    adm = await apiSession(gantry.url, "admin", ADMIN_PASSWORD);
    // 192.0.2.0/24 is TEST-NET-1: a record only, never contacted (no check is run).
    const srv = await adm("POST", "/api/v1/servers", { name: "web-1", address: "192.0.2.10", credentials: { generate: true } });
    assert.equal(srv.status, 201, JSON.stringify(srv.body));
    serverId = srv.body.id;
    browser = await launchBrowser();
    page = await watchedPage(browser, problems, { expected: EXPECTED_FAILURES, timeout: 15000, localOnly: true });
    await page.goto(`${gantry.url}/`);
    await signInToDashboard("admin", ADMIN_PASSWORD);
  });

  after(() => stopAll({ browser, gantry }));

  test("quick add: type a title, press Enter", async () => {
    await nav("Tasks");
    await page.getByRole("heading", { name: "Tasks", level: 1 }).waitFor();
    await page.getByRole("heading", { name: "No open tasks" }).waitFor();
    // `n` focuses the quick add.
    await page.evaluate(() => /** @type {HTMLElement|null} */ (document.activeElement)?.blur());
    await page.keyboard.press("n");
    assert.equal(await page.evaluate(() => document.activeElement?.id), "task-quick-add");
    for (const title of ["Renew wildcard cert", "Patch web-1", "Check backups", "Rotate SSH keys"]) await quickAdd(title);
    assert.deepEqual(await shownOrder(), ["Renew wildcard cert", "Patch web-1", "Check backups", "Rotate SSH keys"]);
    assert.deepEqual(await apiOrder(), ["Renew wildcard cert", "Patch web-1", "Check backups", "Rotate SSH keys"]);
  });

  test("complete a task; it shows under Done", async () => {
    // click, not check(): the row leaves the open list as soon as it is done.
    await row("Rotate SSH keys").getByRole("checkbox", { name: "Complete Rotate SSH keys" }).click();
    await page.getByRole("status").filter({ hasText: "Task “Rotate SSH keys” completed" }).waitFor();
    await row("Rotate SSH keys").waitFor({ state: "detached" });
    const res = await adm("GET", "/api/v1/tasks?completed=true");
    assert.deepEqual(res.body.items.map((t) => t.title), ["Rotate SSH keys"]);
    await page.getByRole("combobox", { name: "Status" }).selectOption("done");
    await row("Rotate SSH keys").waitFor();
    assert.equal(await row("Rotate SSH keys").getByRole("checkbox").isChecked(), true);
    assert.equal(await row("Patch web-1").count(), 0);
    await page.getByRole("combobox", { name: "Status" }).selectOption("open");
    await row("Patch web-1").waitFor();
  });

  test("filter by label and priority, and search", async () => {
    const list = (await adm("GET", "/api/v1/tasks?q=patch")).body.items;
    const patch = list.find((t) => t.title === "Patch web-1");
    const upd = await adm("PATCH", `/api/v1/tasks/${patch.id}`, { labels: ["web"], priority: "urgent" }, { "if-match": `"${patch.version}"` });
    assert.equal(upd.status, 200, JSON.stringify(upd.body));
    await row("Patch web-1").filter({ hasText: "urgent" }).waitFor(); // the live update shows it

    await page.getByRole("searchbox", { name: "Search" }).fill("backup");
    await page.waitForFunction(() => document.querySelectorAll("table.task-table tbody tr").length === 1);
    await row("Check backups").waitFor();
    await page.getByRole("searchbox", { name: "Search" }).fill("");
    await row("Renew wildcard cert").waitFor();

    await page.getByRole("combobox", { name: "Label" }).selectOption("web");
    await page.waitForFunction(() => document.querySelectorAll("table.task-table tbody tr").length === 1);
    await row("Patch web-1").waitFor();
    assert.match(page.url(), /label=web/);
    await page.getByRole("button", { name: "Clear filters" }).click();
    await row("Renew wildcard cert").waitFor();

    await page.getByRole("combobox", { name: "Priority" }).selectOption("urgent");
    await page.waitForFunction(() => document.querySelectorAll("table.task-table tbody tr").length === 1);
    await row("Patch web-1").waitFor();
    await page.getByRole("button", { name: "Clear filters" }).click();
    await page.waitForFunction(() => document.querySelectorAll("table.task-table tbody tr").length === 3);
  });

  test("reorder by drag and drop, and with Alt+↓", async () => {
    assert.deepEqual(await shownOrder(), ["Renew wildcard cert", "Patch web-1", "Check backups"]);
    // Drop "Check backups" on the upper half of the first row: it becomes the first.
    await row("Check backups").locator(".drag-handle").dragTo(row("Renew wildcard cert"), { targetPosition: { x: 40, y: 4 } });
    await page.waitForFunction(() => document.querySelector("table.task-table tbody tr")?.getAttribute("aria-label") === "Check backups");
    await assert.doesNotReject(async () => {
      for (let i = 0; i < 50; i++) {
        if ((await apiOrder()).join("|") === "Check backups|Renew wildcard cert|Patch web-1") return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`API order after the drag: ${(await apiOrder()).join(", ")}`);
    });
    await noHorizontalOverflow();
    await shoot("70-tasks");

    // Keyboard: the focused row moves one down.
    await row("Check backups").focus();
    await page.keyboard.press("Alt+ArrowDown");
    await page.waitForFunction(() => document.querySelector("table.task-table tbody tr")?.getAttribute("aria-label") === "Renew wildcard cert");
    for (let i = 0; i < 50 && (await apiOrder()).join("|") !== "Renew wildcard cert|Check backups|Patch web-1"; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await apiOrder(), ["Renew wildcard cert", "Check backups", "Patch web-1"]);
    assert.deepEqual(await shownOrder(), ["Renew wildcard cert", "Check backups", "Patch web-1"]);
  });

  test("the drawer: Markdown description, an attachment dropped in and downloaded", async () => {
    await row("Renew wildcard cert").getByRole("button", { name: "Open Renew wildcard cert" }).click();
    const drawer = page.getByRole("dialog", { name: "Renew wildcard cert" });
    await drawer.waitFor();
    assert.match(page.url(), /task=\d+/);

    await drawer.getByRole("button", { name: "Edit", exact: true }).click();
    await drawer.getByRole("textbox", { name: "Description" }).fill("Use **certbot** on web-1.\n\n<img src=x onerror=alert(1)>\n\n- [ ] staging\n- [ ] prod");
    await drawer.getByRole("button", { name: "Save" }).click();
    const md = drawer.getByLabel("Rendered description");
    await md.locator("strong", { hasText: "certbot" }).waitFor();
    assert.equal(await md.locator("img").count(), 0, "raw HTML is not rendered");
    await md.getByText("<img src=x onerror=alert(1)>").waitFor();

    // Drop a file on the drop zone (a real drop event with a DataTransfer).
    const bytes = randomBytes(300 * 1024);
    await drawer.getByTestId("attachment-dropzone").evaluate((zone, b64) => {
      const bin = atob(b64);
      const arr = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) arr[i] = bin.charCodeAt(i);
      const dt = new DataTransfer();
      dt.items.add(new File([arr], "certbot.log", { type: "text/plain" }));
      zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
      zone.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, bytes.toString("base64"));
    await page.getByRole("status").filter({ hasText: "“certbot.log” uploaded" }).waitFor();
    const link = drawer.getByRole("list", { name: "Attachments" }).getByRole("link", { name: "certbot.log" });
    await link.waitFor();
    const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
    assert.equal(download.suggestedFilename(), "certbot.log");
    const got = await readFile(await download.path());
    assert.ok(got.equals(bytes), `the download is the uploaded bytes (${got.length} of ${bytes.length})`);
    await row("Renew wildcard cert").filter({ hasText: "1 file" }).waitFor();
    await noHorizontalOverflow();
    await shoot("71-task-drawer");
    await page.keyboard.press("Escape");
    await drawer.waitFor({ state: "detached" });
    assert.doesNotMatch(page.url(), /task=/);
  });

  test("live: a task added elsewhere appears without a reload", async () => {
    const res = await adm("POST", "/api/v1/tasks", { title: "From the API", priority: "high" });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    await row("From the API").filter({ hasText: "high" }).waitFor();
  });

  test("attachment storage (admin): the endpoint's error, the failed probe, Cancel keeps local disk", async () => {
    await page.getByRole("button", { name: "Attachment storage" }).click();
    const dialog = page.getByRole("dialog", { name: "Attachment storage" });
    await dialog.getByText("Largest attachment").waitFor();
    assert.equal(await dialog.getByRole("radio", { name: /Local disk/ }).isChecked(), true);
    await dialog.getByRole("radio", { name: /S3-compatible/ }).check();
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    await dialog.getByLabel("Bucket", { exact: true }).fill("missing-bucket");
    await dialog.getByLabel("Endpoint", { exact: true }).fill("http://127.0.0.1:9");
    await dialog.getByLabel("Access key ID", { exact: true }).fill("e2e-access-key");
    const secret = dialog.getByLabel("Secret access key", { exact: true });
    assert.equal(await secret.getAttribute("type"), "password");
    assert.equal(await secret.inputValue(), "");
    await secret.fill("e2e-secret-key");
    const allowHttp = dialog.getByRole("checkbox", { name: "Allow a plain-HTTP endpoint" });
    assert.equal(await allowHttp.isChecked(), false);
    await dialog.getByRole("button", { name: "Save" }).click();
    await dialog.locator(".field-error", { hasText: "is plain http; set allow_http" }).waitFor();
    assert.equal(await dialog.getByLabel("Endpoint", { exact: true }).getAttribute("aria-invalid"), "true");

    await allowHttp.check();
    await dialog.getByRole("button", { name: "Save" }).click();
    const probe = dialog.getByRole("alert").filter({ hasText: "The S3 settings were not saved: a test write, read and delete failed" });
    await probe.waitFor({ timeout: 30000 });
    assert.equal(await dialog.getByLabel("Endpoint", { exact: true }).getAttribute("aria-invalid"), null, "the endpoint is no longer the problem");
    await noHorizontalOverflow();
    await probe.scrollIntoViewIfNeeded();
    await shoot("73-task-storage");

    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "detached" });
    const res = await adm("GET", "/api/v1/tasks/storage");
    assert.equal(res.status, 200);
    assert.equal(res.body.kind, "local");
    assert.equal(res.body.s3 ?? null, null, "nothing was saved");
    // Opened again: the setting as stored, the secret not kept in the form.
    await page.getByRole("button", { name: "Attachment storage" }).click();
    await dialog.getByText("Largest attachment").waitFor();
    assert.equal(await dialog.getByRole("radio", { name: /Local disk/ }).isChecked(), true);
    assert.equal(await dialog.getByRole("radio", { name: /Local disk/ }).evaluate((el) => el === document.activeElement), true, "focus on the chosen kind");
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
  });

  test("the server page lists its open tasks and adds one", async () => {
    const linked = await adm("POST", "/api/v1/tasks", { title: "Upgrade nginx on web-1", links: [{ kind: "server", id: serverId }] });
    assert.equal(linked.status, 201, JSON.stringify(linked.body));
    await nav("Servers");
    await page.getByRole("link", { name: "web-1", exact: true }).click();
    await page.getByRole("heading", { name: "web-1", level: 1 }).waitFor();
    const card = page.getByRole("region", { name: "Open tasks" });
    await card.getByRole("link", { name: "Upgrade nginx on web-1" }).waitFor();
    assert.equal(await card.getByRole("link", { name: "Patch web-1" }).count(), 0, "only tasks linked to this server");

    await card.getByRole("button", { name: "New task for this server" }).click();
    const dialog = page.getByRole("dialog", { name: "New task for “web-1”" });
    await dialog.getByLabel("Title").fill("Check disk space");
    await dialog.getByRole("button", { name: "Create task" }).click();
    await card.getByRole("link", { name: "Check disk space" }).waitFor();
    const viaApi = await adm("GET", `/api/v1/tasks?link=server:${serverId}&completed=false`);
    assert.deepEqual(viaApi.body.items.map((t) => t.title).sort(), ["Check disk space", "Upgrade nginx on web-1"]);
    await noHorizontalOverflow();
    await card.scrollIntoViewIfNeeded();
    await shoot("72-server-tasks");

    // The link opens the task in the Tasks page's drawer, which links back.
    await card.getByRole("link", { name: "Upgrade nginx on web-1" }).click();
    const drawer = page.getByRole("dialog", { name: "Upgrade nginx on web-1" });
    await drawer.waitFor();
    await drawer.getByRole("list", { name: "Links of this task" }).getByRole("link", { name: "web-1" }).waitFor();
    await page.keyboard.press("Escape");
    await drawer.waitFor({ state: "detached" });
  });

  test("self-registration: a new account is a viewer and sees the tasks read-only", async () => {
    await signOut();
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByRole("heading", { name: "Create account", level: 1 }).waitFor();
    await page.getByLabel("Username").fill("newcomer");
    await page.getByLabel("Display name").fill("New Comer");
    await page.getByLabel("Password").fill("newcomer-password-1");
    await page.getByRole("button", { name: "Create account" }).click();
    await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
    await nav("Tasks");
    await row("Patch web-1").waitFor();
    assert.equal(await page.getByRole("textbox", { name: "New task" }).count(), 0, "no quick add for viewers");
    assert.equal(await page.getByRole("button", { name: "Attachment storage" }).count(), 0, "the storage setting is for admins");
    assert.equal(await row("Patch web-1").getByRole("checkbox").isDisabled(), true);
    assert.equal(await row("Patch web-1").getAttribute("draggable"), "false");
    assert.equal(await row("Patch web-1").getByRole("button", { name: /Edit title/ }).count(), 0);
    await row("Patch web-1").getByRole("button", { name: "Open Patch web-1" }).click();
    const drawer = page.getByRole("dialog", { name: "Patch web-1" });
    await drawer.getByText("urgent").waitFor();
    assert.equal(await drawer.getByRole("combobox").count(), 0, "nothing to edit");
    assert.equal(await drawer.getByRole("button", { name: "Delete task" }).count(), 0);
    await page.keyboard.press("Escape");
  });

  test("no console errors, no CSP violations", () => assertNoProblems(problems));
});
