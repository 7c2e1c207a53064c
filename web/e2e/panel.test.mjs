// End-to-end tests: the real gantry binary serving the embedded panel, driven
// in Debian's Chromium. Run with `npm run e2e` after `npm run build` (and a
// `cargo build -p gantry`; debug binaries read web/dist from disk).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ADMIN_PASSWORD, SHOTS, apiSession, assertNoProblems, launchBrowser, pageKit, prepareSuite, problemSink, startGantry, stopAll, watchedPage } from "./gantry.mjs";

const NEW_ADMIN_PASSWORD = "e2e-changed-password-2";
const EXPECTED_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

// Failed requests the flow causes on purpose; the browser logs them as console
// errors ("Failed to load resource"), every other console error fails the run.
const EXPECTED_FAILURES = [
  { path: "/api/v1/auth/me", status: 401 }, // the panel asks who is signed in before login
  { path: "/api/v1/auth/login", status: 401 }, // the wrong password
  { path: "/api/v1/users", status: 422 }, // the invalid new user (field errors)
  { path: "/api/v1/users/", status: 412 }, // the stale edit (conflict dialog)
  { path: "/api/v1/jobs/", status: 0 }, // job reads blocked on purpose to prove progress comes over SSE
];

let gantry;
let browser;
let page;
const { shoot, noHorizontalOverflow, signIn, signInToDashboard, signOut } = pageKit(() => page);
const problems = problemSink();

/** Polls until an input shows `value` (state updates after a request are asynchronous). */
async function waitForValue(locator, value, timeout = 10000) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    last = await locator.inputValue().catch(() => undefined);
    if (last === value) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(last, value);
}

async function nav(label) {
  await page.getByRole("navigation").getByRole("link", { name: label }).click();
}

describe("gantry admin panel", { concurrency: false }, () => {
  before(async () => {
    // This file owns the 0x/1x screenshots; servers.test.mjs owns the 2x ones, domains.test.mjs the 3x ones, proxy.test.mjs the 4x ones, tls.test.mjs the 5x ones.
    prepareSuite(/^[01]\d-/);
    gantry = await startGantry();
    browser = await launchBrowser();
    page = await watchedPage(browser, problems, { expected: EXPECTED_FAILURES });
  });

  after(async () => {
    await stopAll({ browser, gantry });
    console.log(`\nScreenshots (light and dark): ${SHOTS}`);
  });

  test("serves the panel with the Content-Security-Policy and cache headers", async () => {
    const res = await fetch(`${gantry.url}/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-security-policy"), EXPECTED_CSP);
    assert.equal(res.headers.get("cache-control"), "no-cache");
    const html = await res.text();
    assert.match(html, /<div id="root"><\/div>/, "/ serves the built panel (is web/dist embedded?)");
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, "no inline scripts");
    assert.doesNotMatch(html, /<style|style="/, "no inline styles");
    const asset = html.match(/src="(\/assets\/[^"]+\.js)"/)[1];
    const a = await fetch(`${gantry.url}${asset}`);
    assert.equal(a.status, 200);
    assert.match(a.headers.get("cache-control"), /immutable/);
    assert.equal(a.headers.get("content-security-policy"), EXPECTED_CSP);
    // SPA fallback: a client-side route answers with index.html.
    const deep = await fetch(`${gantry.url}/users?q=x`);
    assert.equal(deep.status, 200);
    assert.equal(deep.headers.get("content-security-policy"), EXPECTED_CSP);
  });

  test("login: a wrong password is refused, the right one lands on the dashboard", async () => {
    await page.goto(`${gantry.url}/`);
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    assert.match(page.url(), /\/login$/);
    await shoot("01-login");
    await signIn("admin", "not-the-password");
    await page.getByTestId("login-error").waitFor();
    assert.equal(await page.getByTestId("login-error").textContent(), "Wrong username or password.");
    assert.equal(await page.getByLabel("Password", { exact: true }).inputValue(), "", "password field cleared");
    await signInToDashboard("admin", ADMIN_PASSWORD);
    await page.getByTestId("version").waitFor();
    await page.locator(".topbar .live-open").waitFor();
    // No credentials in web storage.
    const storage = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    assert.doesNotMatch(storage, /csrf|token|session|gty_/i);
    await noHorizontalOverflow();
    await shoot("02-dashboard");
  });

  test("a self-check's progress is followed live over SSE, without reload", async () => {
    await page.evaluate(() => {
      // @ts-ignore
      window.__noReload = "still here";
    });
    // Block job reads: whatever the drawer shows must come from the event stream.
    await page.route(/\/api\/v1\/jobs\/\d+$/, (route) => route.abort());
    const seen = [];
    await page.exposeFunction("__progressSeen", (v) => seen.push(v));
    await page.evaluate(() => {
      new MutationObserver(() => {
        const bar = document.querySelector('.dialog-drawer [role="progressbar"][aria-valuenow]');
        // @ts-ignore
        if (bar) window.__progressSeen(`${bar.getAttribute("aria-valuenow")}|${bar.getAttribute("aria-valuetext")}`);
      }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["aria-valuenow"] });
    });
    await page.getByRole("button", { name: "Run self-check" }).click();
    const drawer = page.getByRole("dialog", { name: /Job #\d+ · system\.selfcheck/ });
    await drawer.waitFor();
    await drawer.getByTestId("job-progress-pct").filter({ hasText: "100%" }).waitFor();
    await drawer.locator('[data-status="succeeded"]').waitFor();
    await drawer.getByText("database reachable", { exact: false }).first().waitFor();
    assert.equal(await page.evaluate(() => /** @type any */ (window).__noReload), "still here", "the page was not reloaded");
    assert.ok(seen.some((v) => v.startsWith("100|")), `progress reached 100%: ${seen.join(", ")}`);
    await page.unroute(/\/api\/v1\/jobs\/\d+$/);
    // With reads allowed again, the drawer shows the full record.
    await drawer.getByRole("button", { name: "Close", exact: true }).click();
    await nav("Jobs");
    await page.getByRole("heading", { name: "Jobs", level: 1 }).waitFor();
    await page.getByRole("table", { name: "Jobs" }).locator('[data-status="succeeded"]').first().waitFor();
    await page.getByRole("button", { name: /^Open job \d+$/ }).first().click();
    const d2 = page.getByRole("dialog", { name: /Job #\d+/ });
    await d2.getByRole("heading", { name: "Result" }).waitFor();
    await shoot("06-job-drawer");
    await page.keyboard.press("Escape");
    await d2.waitFor({ state: "detached" });
    await noHorizontalOverflow();
    await shoot("05-jobs");
  });

  test("users: field errors, create, audit entry, 412 conflict, disable", async () => {
    await nav("Users");
    await page.getByRole("heading", { name: "Users", level: 1 }).waitFor();
    await page.getByRole("table", { name: "Users" }).getByRole("row").filter({ hasText: "Administrator" }).waitFor();
    await page.getByRole("button", { name: "New user" }).click();
    const dlg = page.getByRole("dialog", { name: "New user" });
    await dlg.getByLabel("Username").fill("Alice Smith");
    await dlg.getByLabel("Display name").fill("Alice Smith");
    await dlg.getByLabel("Role").selectOption("operator");
    await dlg.getByLabel("Initial password").fill("short");
    await dlg.getByRole("button", { name: "Create user" }).click();
    // The API's field-level errors appear next to the right fields.
    await dlg.getByText("must be at least 10 characters").waitFor();
    assert.equal(await dlg.getByLabel("Initial password").getAttribute("aria-invalid"), "true");
    assert.match(await dlg.getByLabel("Username").getAttribute("aria-describedby"), /-error$/);
    await shoot("04-users-form-errors");
    await dlg.getByLabel("Username").fill("alice");
    await dlg.getByLabel("Initial password").fill("alice-password-1");
    await dlg.getByRole("button", { name: "Create user" }).click();
    await page.getByRole("status").filter({ hasText: "User “alice” created" }).waitFor();
    const row = page.getByRole("row").filter({ hasText: "alice" });
    await row.waitFor();
    await noHorizontalOverflow();
    await shoot("03-users");

    // The audit log has the creation.
    await nav("Audit");
    await page.getByRole("heading", { name: "Audit log", level: 1 }).waitFor();
    await page.getByLabel("Action").fill("user.create");
    // The filter applies (debounced): other actions disappear.
    await page.getByRole("row").filter({ hasText: "auth.login" }).first().waitFor({ state: "detached" });
    const entry = page.getByRole("row").filter({ hasText: "user.create" }).filter({ hasText: "admin" }).filter({ hasNotText: "bootstrap" });
    await entry.first().waitFor();
    await entry.first().getByRole("button", { name: /Details of user\.create/ }).click();
    await page.locator(".diff-table").getByText("alice", { exact: true }).waitFor();
    await page.getByLabel("Action").fill("");
    await page.getByRole("row").filter({ hasText: "auth.login_failed" }).first().waitFor();
    await noHorizontalOverflow();
    await shoot("07-audit");

    // Someone else changes alice while the edit dialog is open: 412 → conflict dialog → reload.
    await nav("Users");
    const aliceRow = page.getByRole("row").filter({ hasText: "alice" });
    await aliceRow.getByRole("button", { name: "Edit alice" }).click();
    const edit = page.getByRole("dialog", { name: "Edit user “alice”" });
    await edit.getByLabel("Display name").waitFor();
    const other = await apiSession(gantry.url, "admin", ADMIN_PASSWORD);
    const users = await other("GET", "/api/v1/users?q=alice");
    const alice = users.body.items[0];
    const changed = await other("PATCH", `/api/v1/users/${alice.id}`, { display_name: "Alice (changed elsewhere)" }, { "if-match": `"${alice.version}"` });
    assert.equal(changed.status, 200);
    await edit.getByLabel("Display name").fill("Alice S.");
    await edit.getByRole("button", { name: "Save changes" }).click();
    const conflict = page.getByRole("alertdialog", { name: "Changed by someone else" });
    await conflict.waitFor();
    await shoot("08-conflict");
    await conflict.getByRole("button", { name: "Reload latest version" }).click();
    await conflict.waitFor({ state: "detached" });
    await waitForValue(edit.getByLabel("Display name"), "Alice (changed elsewhere)");
    await edit.getByLabel("Display name").fill("Alice S.");
    await edit.getByRole("button", { name: "Save changes" }).click();
    await page.getByRole("status").filter({ hasText: "User “alice” saved" }).waitFor();
    await aliceRow.getByText("Alice S.").waitFor();

    // Disable, with a confirmation that names the user; focus returns to the button.
    const disableBtn = aliceRow.getByRole("button", { name: "Disable alice" });
    await disableBtn.click();
    const confirm = page.getByRole("alertdialog", { name: "Disable user “alice”?" });
    await confirm.waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Cancel", "focus starts on Cancel");
    await page.keyboard.press("Escape");
    await confirm.waitFor({ state: "detached" });
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("aria-label")), "Disable alice", "focus returns to the opener");
    await disableBtn.click();
    await confirm.getByRole("button", { name: "Disable user" }).click();
    await aliceRow.getByText("disabled", { exact: true }).waitFor();
  });

  test("API tokens: created and shown once, then revoked", async () => {
    await page.locator(".user-button").click();
    await page.getByRole("link", { name: "Account & API tokens" }).click();
    await page.getByRole("heading", { name: "Account", level: 1 }).waitFor();
    await page.getByRole("button", { name: "New token" }).click();
    const dlg = page.getByRole("dialog", { name: "New API token" });
    await dlg.getByLabel("Name").fill("e2e-ci");
    await dlg.getByLabel("Role").selectOption("viewer");
    await dlg.getByLabel("Expires after").selectOption("30");
    await dlg.getByRole("button", { name: "Create token" }).click();
    const shown = page.getByRole("dialog", { name: "Token “e2e-ci” created" });
    await shown.waitFor();
    const token = await shown.getByTestId("new-token").inputValue();
    assert.match(token, /^gty_/);
    assert.ok(await shown.getByRole("button", { name: "Copy" }).isVisible());
    await shoot("09-token-created");
    // The token works.
    const me = await fetch(`${gantry.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(me.status, 200);
    await shown.getByRole("button", { name: "Done" }).click();
    const row = page.getByRole("row").filter({ hasText: "e2e-ci" });
    await row.getByText("active").waitFor();
    assert.equal(await page.getByText(token).count(), 0, "the token is not shown again");
    await noHorizontalOverflow();
    await shoot("10-account");
    await row.getByRole("button", { name: "Revoke token e2e-ci" }).click();
    const confirm = page.getByRole("alertdialog", { name: "Revoke token “e2e-ci”?" });
    await confirm.getByText(token.slice(0, 10)).waitFor();
    await confirm.getByRole("button", { name: "Revoke token" }).click();
    await row.getByText("revoked").waitFor();
    const after = await fetch(`${gantry.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(after.status, 401, "a revoked token stops working");
  });

  test("every module in the navigation is built: Monitoring opens the event log", async () => {
    assert.equal(await page.locator(".nav-soon").count(), 0, "no module is marked “soon”");
    await nav("Events");
    await page.getByRole("heading", { name: "Events", level: 1 }).waitFor();
    await page.getByRole("table", { name: "Events" }).waitFor();
    await noHorizontalOverflow();
    await shoot("11-monitoring-events");
  });

  test("narrow screens: the sidebar becomes a menu, nothing scrolls sideways", async () => {
    await page.setViewportSize({ width: 900, height: 800 });
    try {
      const menu = page.getByRole("button", { name: "Menu" });
      await page.waitForTimeout(300); // the sidebar's hide transition
      assert.equal(await page.getByRole("navigation").getByRole("link", { name: "Users" }).isVisible(), false, "the closed menu is hidden");
      await menu.click();
      await nav("Dashboard");
      await page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
      await noHorizontalOverflow();
      await menu.click();
      await nav("Users");
      await page.getByRole("heading", { name: "Users", level: 1 }).waitFor();
      await noHorizontalOverflow();
      await shoot("12-narrow-users");
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
  });

  test("change password, log out, log in with the new password", async () => {
    await page.locator(".user-button").click();
    await page.getByRole("link", { name: "Account & API tokens" }).click();
    await page.getByLabel("Current password").fill(ADMIN_PASSWORD);
    await page.getByLabel("New password", { exact: true }).fill(NEW_ADMIN_PASSWORD);
    await page.getByLabel("Repeat new password").fill(NEW_ADMIN_PASSWORD);
    await page.getByRole("button", { name: "Change password" }).click();
    await page.getByRole("status").filter({ hasText: "Password changed" }).waitFor();
    await signOut();
    // The session is gone: a protected page sends us back to login.
    await page.goto(`${gantry.url}/users`);
    await page.getByRole("heading", { name: "Sign in" }).waitFor();
    const old = await fetch(`${gantry.url}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "admin", password: ADMIN_PASSWORD }),
    });
    assert.equal(old.status, 401, "the old password no longer works");
    await signIn("admin", NEW_ADMIN_PASSWORD);
    // Back where we wanted to go.
    await page.getByRole("heading", { name: "Users", level: 1 }).waitFor();
    await signOut();
  });

  test("a viewer sees no admin links and gets a 403 page for users", async () => {
    const adm = await apiSession(gantry.url, "admin", NEW_ADMIN_PASSWORD);
    const created = await adm("POST", "/api/v1/users", { username: "victor", role: "viewer", password: "victor-password-1" });
    assert.equal(created.status, 201);
    await signInToDashboard("victor", "victor-password-1");
    const navEl = page.getByRole("navigation");
    assert.equal(await navEl.getByRole("link", { name: "Users" }).count(), 0);
    assert.equal(await navEl.getByRole("link", { name: "Audit" }).count(), 0);
    assert.equal(await page.getByRole("button", { name: "Run self-check" }).count(), 0, "viewers cannot start jobs");
    await page.goto(`${gantry.url}/users`);
    await page.getByRole("heading", { name: "You don't have access to this page" }).waitFor();
    await signOut();
  });

  test("no console errors and no CSP violations", () => {
    assertNoProblems(problems);
  });
});
