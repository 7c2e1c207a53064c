// End-to-end tests of the TLS pages against the real binary: the
// Certificates page (an invalid upload's field error, a self-signed
// certificate made here with openssl, its expiry at a glance, an ACME
// account), a domain served with the uploaded certificate, its TLS state on
// the domain page, the refused delete of a certificate in use, and a
// read-only viewer (who sees the certificate and its expiry in the domains
// list). No fleet and no ACME server needed: the server is only a record,
// and nothing is issued. The private key must never show up in the page
// after it was sent.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ADMIN_PASSWORD, assertNoProblems, launchBrowser, pageKit, prepareSuite, problemSink, startWithServerRecord, stopAll, watchedPage } from "./gantry.mjs";

// Failed requests the flow causes on purpose (logged by the browser as console errors).
const EXPECTED_FAILURES = [
  { path: "/api/v1/auth/me", status: 401 }, // who is signed in, before login
  { path: "/api/v1/certificates", status: 422 }, // the invalid upload (field errors)
  { path: "/api/v1/certificates/", status: 409 }, // deleting the certificate a domain serves
];

const DOMAIN = "panel.example.test";

let gantry;
let browser;
let page;
let tmp;
let certPem;
let keyPem;
const { shoot, noHorizontalOverflow, signInToDashboard, signOut, nav } = pageKit(() => page);
const problems = problemSink();

/** The base64 lines of the private key: none may ever be in the page. */
function keyLines() {
  return keyPem.split("\n").filter((l) => l && !l.startsWith("-----"));
}

async function assertKeyNotInPage(where) {
  const html = await page.content();
  const text = await page.evaluate(() => document.body.innerText);
  const values = await page.evaluate(() => Array.from(document.querySelectorAll("input, textarea")).map((e) => /** @type {HTMLInputElement} */ (e).value).join("\n"));
  for (const line of keyLines()) {
    assert.ok(!html.includes(line) && !text.includes(line) && !values.includes(line), `the private key shows in the page (${where})`);
  }
  assert.doesNotMatch(html, /PRIVATE KEY-----\s*\n?\s*[A-Za-z0-9+/]/, `a PEM private key is in the page (${where})`);
}

const certTable = () => page.getByRole("table", { name: "Certificates" });

describe("TLS pages", { concurrency: false }, () => {
  let adm;
  before(async () => {
    prepareSuite(/^5\d-/);
    tmp = mkdtempSync(join(tmpdir(), "gantry-e2e-tls-"));
    const r = spawnSync(
      "openssl",
      [
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30",
        "-subj", `/CN=${DOMAIN}`, "-addext", `subjectAltName=DNS:${DOMAIN}`,
        "-keyout", join(tmp, "key.pem"), "-out", join(tmp, "cert.pem"),
      ],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0, `openssl failed: ${r.stderr}`);
    certPem = readFileSync(join(tmp, "cert.pem"), "utf8");
    keyPem = readFileSync(join(tmp, "key.pem"), "utf8");
    assert.match(keyPem, /BEGIN PRIVATE KEY/);
    // A server record to bind the group to (nothing connects to it).
    ({ gantry, adm } = await startWithServerRecord());
    browser = await launchBrowser();
    page = await watchedPage(browser, problems, { expected: EXPECTED_FAILURES, localOnly: true });
    await page.goto(`${gantry.url}/`);
    await signInToDashboard("admin", ADMIN_PASSWORD);
  });

  after(async () => {
    try {
      await stopAll({ browser, gantry });
    } finally {
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    }
  });

  test("an invalid certificate is refused with the error under its field", async () => {
    await nav("Certificates");
    await page.getByRole("heading", { name: "Certificates", level: 1 }).waitFor();
    await page.getByRole("heading", { name: "No certificates yet" }).waitFor();
    await page.getByRole("heading", { name: "No ACME accounts yet" }).waitFor();
    await page.getByRole("button", { name: "Upload certificate" }).click();
    const dialog = page.getByRole("dialog", { name: "Upload certificate" });
    await dialog.getByLabel("Certificate (PEM)").fill("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
    await dialog.getByLabel("Private key (PEM)").fill(keyPem);
    await dialog.getByRole("button", { name: "Upload certificate" }).click();
    await page.waitForFunction(() => document.querySelector('textarea[name="certificate"]')?.getAttribute("aria-invalid") === "true");
    const described = await dialog.getByLabel("Certificate (PEM)").getAttribute("aria-describedby");
    const msg = await page.locator(`[id="${described}"]`).textContent();
    assert.ok(msg && msg.length > 3, `an error message is shown under the certificate (${msg})`);
    await dialog.getByRole("alert").filter({ hasText: "Please correct the highlighted fields." }).waitFor();
    await noHorizontalOverflow();
    await shoot("51-certificate-upload-error");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await dialog.waitFor({ state: "detached" });
    await assertKeyNotInPage("after cancelling the upload");
  });

  test("a self-signed certificate is uploaded and listed with its expiry", async () => {
    await page.getByRole("button", { name: "Upload certificate" }).click();
    const dialog = page.getByRole("dialog", { name: "Upload certificate" });
    assert.equal(await dialog.getByLabel("Private key (PEM)").inputValue(), "", "the key of the cancelled upload is gone");
    // The files are read in the browser, nothing is sent until the form is.
    await dialog.getByLabel("Certificate file").setInputFiles(join(tmp, "cert.pem"));
    await dialog.getByLabel("Private key file").setInputFiles(join(tmp, "key.pem"));
    await page.waitForFunction(() => /** @type {HTMLTextAreaElement|null} */ (document.querySelector('textarea[name="private_key"]'))?.value.includes("PRIVATE KEY"));
    assert.equal((await dialog.getByLabel("Certificate (PEM)").inputValue()).trim(), certPem.trim());
    await dialog.getByLabel("Name").fill("panel test certificate");
    await dialog.getByRole("button", { name: "Upload certificate" }).click();
    await dialog.waitFor({ state: "detached" });
    await page.getByRole("status").filter({ hasText: "Certificate “panel test certificate” uploaded" }).waitFor();
    const row = certTable().getByRole("row").filter({ hasText: "panel test certificate" });
    await row.filter({ hasText: DOMAIN }).filter({ hasText: "uploaded" }).filter({ hasText: "valid" }).filter({ hasText: "not used" }).waitFor();
    // 30 days: the 30-day warning, with the days left in words.
    const badge = row.locator("[data-level]");
    assert.equal(await badge.getAttribute("data-level"), "expiring_30");
    assert.match(await badge.textContent(), /^(29|30) days left$/);
    await page.getByRole("region", { name: "Certificate warnings" }).filter({ hasText: "1 certificate expires within 30 days" }).waitFor();
    await row.getByRole("button", { name: "Details of panel test certificate" }).click();
    await page.getByText("SHA-256 fingerprint").waitFor();
    await assertKeyNotInPage("the certificates list");
    // The API never returns the key either.
    const list = await adm("GET", "/api/v1/certificates");
    assert.equal(list.status, 200);
    for (const line of keyLines()) assert.ok(!JSON.stringify(list.body).includes(line), "the API returns the private key");
    await noHorizontalOverflow();
    await shoot("50-certificates");
  });

  test("an ACME account is added (registered at its first issuance)", async () => {
    await page.getByRole("button", { name: "Add ACME account" }).click();
    const dialog = page.getByRole("dialog", { name: "Add ACME account" });
    await dialog.getByLabel("Name").fill("le-staging");
    await dialog.getByLabel("Directory").selectOption("letsencrypt-staging");
    await dialog.getByLabel("Contact e-mail").fill("ops@example.test");
    await dialog.getByRole("button", { name: "Add account" }).click();
    await dialog.waitFor({ state: "detached" });
    await page.getByRole("status").filter({ hasText: "ACME account “le-staging” added" }).waitFor();
    await page
      .getByRole("table", { name: "ACME accounts" })
      .getByRole("row")
      .filter({ hasText: "le-staging" })
      .filter({ hasText: "Let's Encrypt (staging)" })
      .filter({ hasText: "at first issuance" })
      .waitFor();
  });

  test("a domain served with the uploaded certificate shows it on its page", async () => {
    await nav("Domains");
    await page.getByRole("heading", { name: "Domains", level: 1 }).waitFor();
    await page.getByRole("button", { name: "New group" }).click();
    const groupDialog = page.getByRole("dialog", { name: "New domain group" });
    await groupDialog.getByLabel("Name").fill("panel");
    await groupDialog.getByLabel("Server").selectOption({ label: "edge-1" });
    await groupDialog.getByRole("button", { name: "Create group" }).click();
    await page.getByRole("heading", { name: "panel", level: 1 }).waitFor();

    await page.getByRole("link", { name: "Add domain", exact: true }).click();
    const form = page.getByRole("form", { name: "Add domain" });
    await page.waitForFunction(() => /** @type {HTMLSelectElement|null} */ (document.querySelector('select[name="group_id"]'))?.selectedOptions[0]?.textContent?.startsWith("panel"));
    await form.getByLabel("Name", { exact: true }).fill(DOMAIN);
    await form.getByLabel("Target IP").fill("10.0.0.5");
    await form.getByRole("radio", { name: /^Uploaded certificate/ }).check();
    const picker = form.getByLabel("Certificate", { exact: true });
    await picker.locator("option", { hasText: "panel test certificate" }).waitFor({ state: "attached" });
    const value = await picker.locator("option", { hasText: "panel test certificate" }).getAttribute("value");
    await picker.selectOption(value);
    await form.getByLabel("Redirect HTTP to HTTPS").check();
    await form.getByLabel("HTTP/2").check();
    await form.getByLabel("TLS profile").selectOption("modern");
    await form.getByRole("button", { name: "Add domain" }).click();
    await page.getByRole("status").filter({ hasText: `Domain “${DOMAIN}” added` }).waitFor();
    const groupTable = page.getByRole("table", { name: "Domains of this group" });
    await groupTable.getByRole("row").filter({ hasText: DOMAIN }).filter({ hasText: "certificate" }).waitFor();

    await groupTable.getByRole("link", { name: DOMAIN }).click();
    await page.getByRole("heading", { name: `Edit domain “${DOMAIN}”`, level: 1 }).waitFor();
    const served = page.getByTestId("domain-tls-serving");
    await served.filter({ hasText: "panel test certificate" }).filter({ hasText: DOMAIN }).waitFor();
    assert.equal(await served.locator("[data-level]").getAttribute("data-level"), "expiring_30");
    assert.equal(await page.getByRole("radio", { name: /^Uploaded certificate/ }).isChecked(), true);
    assert.equal(await page.getByLabel("Certificate", { exact: true }).inputValue(), value);
    assert.equal(await page.getByLabel("HTTP/2").isChecked(), true);
    assert.equal(await page.getByLabel("TLS profile").inputValue(), "modern");
    await assertKeyNotInPage("the domain page");
    await page.getByTestId("domain-tls-section").scrollIntoViewIfNeeded();
    await noHorizontalOverflow();
    await shoot("52-domain-tls");
  });

  test("the certificate lists where it is used and cannot be deleted while served", async () => {
    await nav("Certificates");
    const row = certTable().getByRole("row").filter({ hasText: "panel test certificate" });
    await row.getByRole("link", { name: DOMAIN }).waitFor();
    await row.getByRole("link", { name: "edge-1" }).waitFor();
    await row.getByRole("button", { name: "Delete panel test certificate" }).click();
    const confirm = page.getByRole("alertdialog", { name: "Delete certificate “panel test certificate”?" });
    await confirm.getByRole("button", { name: "Delete certificate" }).click();
    await confirm.getByRole("alert").filter({ hasText: DOMAIN }).waitFor();
    await confirm.getByRole("button", { name: "Cancel" }).click();
    await row.waitFor();
  });

  test("a viewer sees the certificates read-only", async () => {
    const created = await adm("POST", "/api/v1/users", { username: "vera", role: "viewer", password: "vera-password-1" });
    assert.equal(created.status, 201);
    await signOut();
    await signInToDashboard("vera", "vera-password-1");
    await nav("Certificates");
    await certTable().getByRole("row").filter({ hasText: "panel test certificate" }).waitFor();
    assert.equal(await page.getByRole("button", { name: "Upload certificate" }).count(), 0);
    assert.equal(await page.getByRole("button", { name: "Add ACME account" }).count(), 0);
    assert.equal(await page.getByRole("button", { name: /^Delete/ }).count(), 0);
    await assertKeyNotInPage("a viewer's certificates list");
    // The domains list says which certificate each domain serves and its expiry (viewers cannot open the form).
    await nav("Domains");
    const row = page.getByRole("table", { name: "Domains" }).getByRole("row").filter({ hasText: DOMAIN });
    const cell = row.getByTestId("domain-tls-cell");
    await cell.filter({ hasText: "panel test certificate" }).waitFor();
    assert.equal(await cell.getByText("panel test certificate").getAttribute("title"), `panel test certificate (${DOMAIN})`);
    const badge = cell.locator("[data-level]");
    assert.equal(await badge.getAttribute("data-level"), "expiring_30");
    assert.match(await badge.textContent(), /^(29|30) days left$/);
    assert.equal(await page.getByRole("link", { name: DOMAIN }).count(), 0, "viewers get no link to the domain form");
    await noHorizontalOverflow();
    await signOut();
  });

  test("no console errors and no CSP violations", () => {
    assertNoProblems(problems);
  });
});
