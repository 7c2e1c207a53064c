// Starts the real gantry binary on a free port with a fresh SQLite database,
// and launches Debian's Chromium through playwright-core.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

export const WEB_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const ADMIN_PASSWORD = "e2e-admin-password-1";

/** `options.env`: extra environment (e.g. `GANTRY_PROXY__RECONCILE_INTERVAL_SECONDS`) for this run. */
export async function startGantry(options = {}) {
  const bin = process.env.GANTRY_BIN ? resolve(process.env.GANTRY_BIN) : resolve(WEB_DIR, "../target/debug/gantry");
  if (!existsSync(bin)) throw new Error(`gantry binary not found at ${bin}: run \`cargo build -p gantry\` or set GANTRY_BIN`);
  const dataDir = mkdtempSync(join(tmpdir(), "gantry-e2e-data-"));
  const child = spawn(bin, ["serve"], {
    env: {
      ...process.env,
      GANTRY_DATA_DIR: dataDir,
      GANTRY_LISTEN: "127.0.0.1:0",
      GANTRY_ADMIN_PASSWORD: ADMIN_PASSWORD,
      RUST_LOG: process.env.RUST_LOG ?? "warn",
      ...(options.env ?? {}),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d.toString();
    if (stderr.length > 20000) stderr = stderr.slice(-20000);
  });
  const url = await new Promise((resolveUrl, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`gantry did not announce its address within 30 s\n${stderr}`)), 30000);
    child.stdout.on("data", (d) => {
      out += d.toString();
      const m = out.match(/Gantry is listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`gantry exited early (${code})\n${stderr}`));
    });
  });
  child.stdout.resume();
  return {
    url,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode == null) {
        child.kill("SIGTERM");
        await new Promise((r) => {
          const t = setTimeout(() => {
            child.kill("SIGKILL");
            r();
          }, 10000);
          child.once("exit", () => {
            clearTimeout(t);
            r();
          });
        });
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
  if (!existsSync(executablePath)) throw new Error(`Chromium not found at ${executablePath}: apt-get install -y chromium`);
  const userDataDir = mkdtempSync(join(tmpdir(), "gantry-e2e-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
    locale: "en-GB",
    timezoneId: "UTC",
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** A second client (plain fetch, own session) to change things behind the browser's back. */
export async function apiSession(base, username, password) {
  const res = await fetch(`${base}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  if (!res.ok) throw new Error(`login ${username}: ${res.status} ${await res.text()}`);
  const cookie = res.headers.get("set-cookie").split(";")[0];
  const { csrf_token } = await res.json();
  return async (method, path, body, headers = {}) => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: {
        cookie,
        "x-csrf-token": csrf_token,
        ...(body ? { "content-type": "application/json" } : {}),
        ...headers,
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : null };
  };
}

/** Where every e2e run saves its full-page screenshots (light and dark). */
export const SHOTS = join(WEB_DIR, "e2e-screenshots");

/**
 * Page helpers shared by the e2e suites. `getPage` returns the suite's
 * current page (it is created in `before`, after the helpers are bound).
 */
export function pageKit(getPage) {
  return {
    /** Full-page screenshots in light and dark, without transient toasts. */
    async shoot(name) {
      const page = getPage();
      const dismiss = page.getByRole("button", { name: "Dismiss notification" });
      while ((await dismiss.count()) > 0) await dismiss.first().click();
      await page.evaluate(() => window.scrollTo(0, 0)); // the top bar is sticky: shoot from the top
      for (const scheme of ["light", "dark"]) {
        await page.emulateMedia({ colorScheme: scheme });
        await page.waitForTimeout(120);
        await page.screenshot({ path: join(SHOTS, `${name}-${scheme}.png`), fullPage: true });
      }
      await page.emulateMedia({ colorScheme: "light" });
    },
    async noHorizontalOverflow() {
      const { scroll, width } = await getPage().evaluate(() => ({ scroll: document.documentElement.scrollWidth, width: window.innerWidth }));
      assert.ok(scroll <= width + 1, `page overflows horizontally at ${width}px (${scroll}px wide)`);
    },
    async signIn(username, password) {
      const page = getPage();
      await page.getByLabel("Username").fill(username);
      await page.getByLabel("Password", { exact: true }).fill(password);
      await page.getByRole("button", { name: "Sign in" }).click();
    },
    async signOut() {
      const page = getPage();
      await page.locator(".user-button").click();
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.getByRole("heading", { name: "Sign in" }).waitFor();
    },
    /** Follows a link in the sidebar (pages may have other navigation, e.g. breadcrumbs). */
    async nav(label) {
      await getPage().getByRole("complementary", { name: "Main navigation" }).getByRole("link", { name: label, exact: true }).click();
    },
  };
}

/**
 * The suite's page, watched: CSP violations, console errors (except those
 * `isExpected(text, url)` allows, i.e. failures the test causes on purpose)
 * and uncaught page errors are collected into `sink` for the final check.
 */
export async function watchedPage(browser, sink, isExpected, timeout = 10000) {
  const { context } = browser;
  await context.exposeBinding("__gantryCspViolation", (_src, v) => sink.cspViolations.push(v));
  await context.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      // @ts-ignore
      window.__gantryCspViolation(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile}:${e.lineNumber})`);
    });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(timeout);
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    const text = msg.text();
    if (/Content.Security.Policy|Refused to/i.test(text)) sink.cspViolations.push(text);
    else if (!isExpected(text, msg.location().url)) sink.consoleErrors.push(`${text} (${msg.location().url})`);
  });
  page.on("pageerror", (err) => sink.pageErrors.push(String(err)));
  return page;
}
