// End-to-end tests of the Domains pages: groups, domains with inline field
// errors, import (dry run, then apply) and bulk actions, against the real
// binary. No fleet needed: the server is only a record (nothing connects to it).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ADMIN_PASSWORD, assertNoProblems, launchBrowser, pageKit, prepareSuite, problemSink, startWithServerRecord, stopAll, watchedPage } from "./gantry.mjs";

// Failed requests the flow causes on purpose (logged by the browser as console errors).
const EXPECTED_FAILURES = [
  { path: "/api/v1/auth/me", status: 401 }, // who is signed in, before login
  { path: "/api/v1/domains", status: 422 }, // the invalid target IP (field errors)
];

const IMPORT_YAML = `- name: blog.example.com
  target_ip: 10.0.0.21
  target_port: 8081
  aliases: [www.blog.example.com]
  options: {websocket: true}
- name: docs.example.com
  target_ip: 10.0.0.22
- name: broken.example.com
  target_ip: 999.1.1.1
`;

let gantry;
let browser;
let page;
const { shoot, noHorizontalOverflow, signInToDashboard, signOut, nav } = pageKit(() => page);
const problems = problemSink();

const groupTable = () => page.getByRole("table", { name: "Domains of this group" });

describe("domains pages", { concurrency: false }, () => {
  let adm;
  before(async () => {
    prepareSuite(/^3\d-/);
    // A server record to bind the group to (nothing connects to it).
    ({ gantry, adm } = await startWithServerRecord());
    browser = await launchBrowser();
    page = await watchedPage(browser, problems, { expected: EXPECTED_FAILURES, localOnly: true });
    await page.goto(`${gantry.url}/`);
    await signInToDashboard("admin", ADMIN_PASSWORD);
  });

  after(() => stopAll({ browser, gantry }));

  test("create a group bound to a server", async () => {
    await nav("Domains");
    await page.getByRole("heading", { name: "Domains", level: 1 }).waitFor();
    await page.getByRole("heading", { name: "No domain groups yet" }).waitFor();
    await page.getByRole("button", { name: "New group" }).click();
    const dialog = page.getByRole("dialog", { name: "New domain group" });
    await dialog.getByLabel("Name").fill("shop");
    await dialog.getByLabel("Description").fill("Storefront sites");
    await dialog.getByLabel("Server").selectOption({ label: "edge-1" });
    await dialog.getByRole("button", { name: "Create group" }).click();
    await page.getByRole("heading", { name: "shop", level: 1 }).waitFor();
    await page.getByRole("status").filter({ hasText: "Group “shop” created" }).waitFor();
    await page.locator(".page-description").getByRole("link", { name: "edge-1" }).waitFor();
    await page.getByRole("heading", { name: "No domains yet" }).waitFor();
  });

  test("add two domains; a bad target IP is shown next to its field", async () => {
    await page.getByRole("link", { name: "Add domain", exact: true }).click();
    await page.getByRole("heading", { name: "Add domain", level: 1 }).waitFor();
    const form = page.getByRole("form", { name: "Add domain" });
    // The group comes from ?group=…
    await page.waitForFunction(() => /** @type {HTMLSelectElement|null} */ (document.querySelector('select[name="group_id"]'))?.selectedOptions[0]?.textContent?.startsWith("shop"));
    await form.getByLabel("Name", { exact: true }).fill("shop.example.com");
    await form.getByLabel("Target IP").fill("10.0.0.256");
    await form.getByLabel("Target port").fill("8080");
    await form.getByRole("button", { name: "Add alias" }).click();
    await form.getByRole("textbox", { name: "Aliases 1", exact: true }).fill("www.shop.example.com");
    await form.getByLabel("WebSocket").check();
    await form.getByRole("button", { name: "Add domain" }).click();
    const ip = form.getByLabel("Target IP");
    await page.waitForFunction(() => document.querySelector('input[name="target_ip"]')?.getAttribute("aria-invalid") === "true");
    const described = await ip.getAttribute("aria-describedby");
    const msg = await page.locator(`[id="${described}"]`).textContent();
    assert.ok(msg && msg.length > 3, `an error message is shown under the target IP (${msg})`);
    assert.equal(await form.getByLabel("Name", { exact: true }).getAttribute("aria-invalid"), null);
    await form.getByRole("alert").filter({ hasText: "Please correct the highlighted fields." }).waitFor();
    await noHorizontalOverflow();
    await shoot("32-domain-form-errors");

    await ip.fill("10.0.0.5");
    await form.getByRole("button", { name: "Add domain" }).click();
    await page.getByRole("heading", { name: "shop", level: 1 }).waitFor();
    await page.getByRole("status").filter({ hasText: "Domain “shop.example.com” added" }).waitFor();
    await groupTable().getByRole("row").filter({ hasText: "shop.example.com" }).filter({ hasText: "http://10.0.0.5:8080" }).waitFor();

    await page.getByRole("link", { name: "Add domain", exact: true }).click();
    const form2 = page.getByRole("form", { name: "Add domain" });
    await page.waitForFunction(() => /** @type {HTMLSelectElement|null} */ (document.querySelector('select[name="group_id"]'))?.selectedOptions[0]?.textContent?.startsWith("shop"));
    await form2.getByLabel("Name", { exact: true }).fill("api.example.com");
    await form2.getByLabel("Target IP").fill("10.0.0.6");
    await form2.getByRole("button", { name: "Add route" }).click();
    await form2.getByRole("textbox", { name: "Route 1 path" }).fill("/v2");
    await form2.getByRole("textbox", { name: "Route 1 target ip" }).fill("10.0.0.7");
    await form2.getByRole("textbox", { name: "Route 1 port" }).fill("9000");
    await form2.getByRole("button", { name: "Add domain" }).click();
    await page.getByRole("status").filter({ hasText: "Domain “api.example.com” added" }).waitFor();
    await groupTable().getByRole("row").filter({ hasText: "api.example.com" }).filter({ hasText: "1 route" }).waitFor();
  });

  test("import a YAML file: dry-run report first, then apply", async () => {
    await page.getByRole("button", { name: "Import", exact: true }).click();
    const dialog = page.getByRole("dialog", { name: "Import domains into “shop”" });
    await dialog.getByLabel("File").setInputFiles({ name: "domains.yaml", mimeType: "text/yaml", buffer: Buffer.from(IMPORT_YAML) });
    await page.waitForFunction(() => /** @type {HTMLTextAreaElement|null} */ (document.querySelector('textarea[name="content"]'))?.value.includes("docs.example.com"));
    assert.equal(await dialog.getByRole("button", { name: "Apply" }).isDisabled(), true, "apply needs a dry run first");
    await dialog.getByRole("button", { name: "Run dry run" }).click();
    const report = dialog.getByRole("table", { name: "Dry-run report by line" });
    await report.getByRole("row").filter({ hasText: "blog.example.com" }).filter({ hasText: "create" }).waitFor();
    await report.getByRole("row").filter({ hasText: "docs.example.com" }).filter({ hasText: "create" }).waitFor();
    await report.getByRole("row").filter({ hasText: "broken.example.com" }).filter({ hasText: "rejected" }).filter({ hasText: "target_ip" }).waitFor();
    await dialog.getByTestId("import-summary").filter({ hasText: "2 to create" }).filter({ hasText: "1 rejected" }).filter({ hasText: "only the 2 valid lines" }).waitFor();
    // Nothing changed yet.
    assert.equal(await groupTable().getByRole("row").filter({ hasText: "blog.example.com" }).count(), 0);
    await report.scrollIntoViewIfNeeded();
    await shoot("33-domain-import-dry-run");
    await dialog.getByRole("button", { name: "Apply 2 valid lines" }).click();
    await dialog.waitFor({ state: "detached" });
    await page.getByRole("status").filter({ hasText: "Imported: 2 created" }).waitFor();
    assert.equal(await groupTable().getByRole("row").filter({ hasText: "broken.example.com" }).count(), 0, "rejected lines are not applied");
    await groupTable().getByRole("row").filter({ hasText: "blog.example.com" }).filter({ hasText: "www.blog.example.com" }).waitFor();
    await groupTable().getByRole("row").filter({ hasText: "docs.example.com" }).waitFor();
    await page.locator(".page-description").filter({ hasText: "4 domains" }).waitFor();
    await noHorizontalOverflow();
    await shoot("31-domain-group");
  });

  test("overview: groups, cross-group search and a bulk disable", async () => {
    await nav("Domains");
    await page.getByRole("table", { name: "Domain groups" }).getByRole("row").filter({ hasText: "shop" }).filter({ hasText: "edge-1" }).filter({ hasText: "4" }).waitFor();
    const table = page.getByRole("table", { name: "Domains", exact: true });
    await table.getByRole("row").filter({ hasText: "docs.example.com" }).waitFor();
    await noHorizontalOverflow();
    await shoot("30-domains");
    await page.getByRole("searchbox", { name: "Search domains" }).fill("example.com");
    await table.getByRole("checkbox", { name: "Select blog.example.com" }).check();
    await table.getByRole("checkbox", { name: "Select docs.example.com" }).check();
    await page.getByRole("region", { name: "Bulk actions" }).getByText("2 domains selected").waitFor();
    await page.getByRole("region", { name: "Bulk actions" }).getByRole("button", { name: "Disable" }).click();
    const confirm = page.getByRole("alertdialog", { name: "Disable 2 domains?" });
    await confirm.getByRole("button", { name: "Disable 2 domains" }).click();
    await page.getByRole("status").filter({ hasText: "2 domains disabled" }).waitFor();
    await table.getByRole("row").filter({ hasText: "docs.example.com" }).filter({ hasText: "disabled" }).waitFor();
    await table.getByRole("row").filter({ hasText: "shop.example.com" }).filter({ hasText: "enabled" }).waitFor();
  });

  test("export, then delete the group moving its domains to another group", async () => {
    const archive = await adm("POST", "/api/v1/domain-groups", { name: "archive", description: "Parked domains" });
    assert.equal(archive.status, 201);
    await page.getByRole("table", { name: "Domain groups" }).getByRole("link", { name: "shop", exact: true }).click();
    await page.getByRole("heading", { name: "shop", level: 1 }).waitFor();
    const href = await page.getByRole("link", { name: "Export YAML" }).getAttribute("href");
    const exported = await page.evaluate(async (u) => (await fetch(u)).text(), href);
    assert.match(exported, /docs\.example\.com/);
    await page.getByRole("button", { name: "Delete group" }).click();
    const confirm = page.getByRole("alertdialog", { name: "Delete group “shop”?" });
    await confirm.getByText("has 4 domains").waitFor();
    await confirm.getByLabel("Move the domains to").selectOption({ label: "archive" });
    await confirm.getByRole("button", { name: "Move 4 domains and delete group" }).click();
    await page.getByRole("heading", { name: "Domains", level: 1 }).waitFor();
    await page.getByRole("status").filter({ hasText: "Group “shop” deleted" }).waitFor();
    await page.getByRole("table", { name: "Domain groups" }).getByRole("row").filter({ hasText: "archive" }).filter({ hasText: "4" }).waitFor();
  });

  test("a viewer sees the domains read-only", async () => {
    const created = await adm("POST", "/api/v1/users", { username: "vera", role: "viewer", password: "vera-password-1" });
    assert.equal(created.status, 201);
    await signOut();
    await signInToDashboard("vera", "vera-password-1");
    await nav("Domains");
    await page.getByRole("table", { name: "Domains", exact: true }).getByRole("row").filter({ hasText: "docs.example.com" }).waitFor();
    assert.equal(await page.getByRole("button", { name: "New group" }).count(), 0);
    assert.equal(await page.getByRole("checkbox").count(), 0, "no bulk selection for viewers");
    await page.getByRole("link", { name: "archive", exact: true }).first().click();
    await page.getByRole("heading", { name: "archive", level: 1 }).waitFor();
    assert.equal(await page.getByRole("link", { name: "Add domain" }).count(), 0);
    assert.equal(await page.getByRole("button", { name: "Import" }).count(), 0);
    assert.equal(await page.getByLabel("Name").isDisabled(), true);
    await signOut();
  });

  test("no console errors and no CSP violations", () => {
    assertNoProblems(problems);
  });
});
