// Shared by the e2e suites: starts the real gantry binary on a free port with
// a fresh SQLite database, launches Debian's Chromium through playwright-core,
// brings the test fleet up and down, and holds the page helpers.
import { spawn, spawnSync } from "node:child_process";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, existsSync } from "node:fs";
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
/**
 * Gantry with availability probes off, an admin API session, and a server
 * record to bind domain groups to that nothing is meant to reach (should
 * anything try, it stays on loopback: 127.0.0.1 port 9). For suites that
 * need a server without the test fleet.
 */
export async function startWithServerRecord(name = "edge-1") {
  const gantry = await startGantry({ env: { GANTRY_SERVERS__PROBE_INTERVAL_SECONDS: "0" } });
  const adm = await apiSession(gantry.url, "admin", ADMIN_PASSWORD);
  const srv = await adm("POST", "/api/v1/servers", { name, address: "127.0.0.1", port: 9, credentials: { generate: true } });
  if (srv.status !== 201) throw new Error(`creating the server record failed: ${srv.status} ${JSON.stringify(srv.body)}`);
  return { gantry, adm, serverId: srv.body.id };
}

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
 * A suite's first step: the panel must be built, and the suite's screenshots
 * from an earlier run go (each suite owns a prefix, e.g. `/^2\d-/`).
 */
export function prepareSuite(ownedShots) {
  if (!existsSync(join(WEB_DIR, "dist", "index.html"))) throw new Error("web/dist is missing: run `npm run build` first");
  mkdirSync(SHOTS, { recursive: true });
  for (const f of readdirSync(SHOTS)) if (ownedShots.test(f)) rmSync(join(SHOTS, f), { force: true });
}

export const FLEET_BIN = process.env.GANTRY_TESTFLEET_BIN
  ? resolve(process.env.GANTRY_TESTFLEET_BIN)
  : resolve(WEB_DIR, "../target/debug/gantry-testfleet");

/**
 * `describe`'s `skip` for a suite that needs the test fleet, which needs root
 * (network namespaces, veths). Without root the suite is skipped with a loud
 * banner, so a green run cannot hide it; under CI=true that is a failure.
 */
export function fleetSkip(suite, needs, covers) {
  if (typeof process.getuid === "function" && process.getuid() === 0) return false;
  const msg = `${suite} e2e needs root to start the test fleet (${needs})`;
  if (process.env.CI === "true") throw new Error(`${msg}; CI=true, so this is a failure`);
  console.warn(`\n${"!".repeat(78)}\n!! SKIPPING the ${suite} e2e suite: ${msg}.\n!! Run \`npm run e2e\` as root to cover ${covers}.\n${"!".repeat(78)}\n`);
  return "not root: the test fleet cannot start";
}

/**
 * `gantry-testfleet up --hosts <hosts>`: the fleet's state (`hosts`,
 * `client_key_path`, …) and `down()`, which brings it down and removes its
 * directory. A failed `up` is brought down before it throws.
 */
export function startFleet(hosts) {
  if (!existsSync(FLEET_BIN)) throw new Error(`${FLEET_BIN} not found: run \`cargo build -p gantry-testfleet\` or set GANTRY_TESTFLEET_BIN`);
  const dir = mkdtempSync(join(tmpdir(), "gantry-e2e-fleet-"));
  const state = join(dir, "fleet.json");
  function down() {
    if (existsSync(state)) {
      const r = spawnSync(FLEET_BIN, ["down", "--state", state], { encoding: "utf8" });
      if (r.status !== 0) console.error(`gantry-testfleet down failed (${r.status}): ${r.stderr}`);
    }
    rmSync(dir, { recursive: true, force: true });
  }
  try {
    const up = spawnSync(FLEET_BIN, ["up", "--hosts", String(hosts), "--state", state], { encoding: "utf8" });
    if (up.status !== 0) throw new Error(`gantry-testfleet up failed (${up.status}):\n${up.stdout}\n${up.stderr}`);
    const fleet = JSON.parse(readFileSync(state, "utf8"));
    assert.equal(fleet.hosts.length, hosts);
    return { ...fleet, down };
  } catch (e) {
    down();
    throw e;
  }
}

export const PVESIM_BIN = process.env.GANTRY_PVESIM_BIN
  ? resolve(process.env.GANTRY_PVESIM_BIN)
  : resolve(WEB_DIR, "../target/debug/gantry-pvesim");

/**
 * Starts the Proxmox VE simulator (`gantry-pvesim`, loopback only) and reads
 * the one JSON line it prints: `urls` (one per node), the API certificate's
 * `fingerprint`, the root `token` (`root@pam!gantry=SECRET`), `user`,
 * `password`. `control(method, path, body)` calls its control API (`/_sim/…`);
 * `stop()` ends it.
 */
export async function startPveSim(args = ["--timing", "fast"]) {
  if (!existsSync(PVESIM_BIN)) throw new Error(`${PVESIM_BIN} not found: run \`cargo build -p gantry-pvesim\` or set GANTRY_PVESIM_BIN`);
  const child = spawn(PVESIM_BIN, args, { env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d.toString();
    if (stderr.length > 20000) stderr = stderr.slice(-20000);
  });
  const info = await new Promise((resolveInfo, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`gantry-pvesim printed nothing within 20 s\n${stderr}`)), 20000);
    child.stdout.on("data", (d) => {
      out += d.toString();
      const nl = out.indexOf("\n");
      if (nl < 0) return;
      clearTimeout(timer);
      try {
        resolveInfo(JSON.parse(out.slice(0, nl)));
      } catch (e) {
        reject(new Error(`gantry-pvesim printed no JSON line: ${out}`));
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`gantry-pvesim exited early (${code})\n${stderr}`));
    });
  });
  child.stdout.resume();
  return {
    ...info,
    stderr: () => stderr,
    /**
     * The simulator's control API (no auth, not part of Proxmox). It is
     * served with the simulator's self-signed certificate, which it does not
     * print (Gantry pins its fingerprint instead); certificate checks are off
     * for this loopback test-control call only.
     */
    control(method, path, body) {
      const url = new URL(path, info.urls[0]);
      return new Promise((resolveRes, reject) => {
        const req = httpsRequest(url, { method, rejectUnauthorized: false, headers: body ? { "content-type": "application/json" } : {} }, (res) => {
          let text = "";
          res.on("data", (d) => (text += d));
          res.on("end", () => resolveRes({ status: res.statusCode, body: text ? JSON.parse(text) : null }));
        });
        req.on("error", reject);
        req.end(body ? JSON.stringify(body) : undefined);
      });
    },
    async stop() {
      if (child.exitCode != null) return;
      child.kill("SIGTERM");
      await new Promise((r) => {
        const t = setTimeout(() => {
          child.kill("SIGKILL");
          r();
        }, 5000);
        child.once("exit", () => {
          clearTimeout(t);
          r();
        });
      });
    },
  };
}

/** A suite's `after`: closes Chromium, stops gantry and brings the fleet down, each even if another failed or never started. */
export async function stopAll({ browser, gantry, fleet }) {
  try {
    await browser?.close();
  } finally {
    try {
      await gantry?.stop();
    } finally {
      fleet?.down();
    }
  }
}

/**
 * Page helpers shared by the e2e suites. `getPage` returns the suite's
 * current page (it is created in `before`, after the helpers are bound).
 */
export function pageKit(getPage) {
  async function signIn(username, password) {
    const page = getPage();
    await page.getByLabel("Username").fill(username);
    await page.getByLabel("Password", { exact: true }).fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
  }
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
    signIn,
    /** Signs in where the user lands: the dashboard. */
    async signInToDashboard(username, password) {
      await signIn(username, password);
      await getPage().getByRole("heading", { name: "Dashboard", level: 1 }).waitFor();
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

/** What `watchedPage` collects; a suite's last test checks it with `assertNoProblems`. */
export function problemSink() {
  return { cspViolations: [], consoleErrors: [], pageErrors: [] };
}

export function assertNoProblems(sink) {
  assert.deepEqual(sink.cspViolations, [], "CSP violations");
  assert.deepEqual(sink.pageErrors, [], "uncaught page errors");
  assert.deepEqual(sink.consoleErrors, [], "console errors");
}

/**
 * Whether a console error is a failed request the suite causes on purpose:
 * `expected` lists them as `{path, status}` (a path prefix; status 0 for a
 * request the test aborts). The browser logs every failed request as an
 * error; all others fail the run.
 */
function isExpectedFailure(expected, text, url) {
  if (!/Failed to load resource|net::ERR_FAILED/.test(text)) return false;
  const path = url ? new URL(url).pathname : "";
  return expected.some((f) => path.startsWith(f.path) && (f.status === 0 || text.includes(String(f.status))));
}

/**
 * The suite's page, watched: CSP violations, console errors (except the
 * `expected` failed requests) and uncaught page errors are collected into
 * `sink` (from `problemSink`) for the final check. With `localOnly`, a
 * request to anything but gantry on 127.0.0.1 is aborted and reported.
 */
export async function watchedPage(browser, sink, { expected = [], timeout = 10000, localOnly = false } = {}) {
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
    else if (!isExpectedFailure(expected, text, msg.location().url)) sink.consoleErrors.push(`${text} (${msg.location().url})`);
  });
  page.on("pageerror", (err) => sink.pageErrors.push(String(err)));
  if (localOnly) {
    await page.route(/^(?!http:\/\/127\.0\.0\.1:)/, (route) => {
      sink.consoleErrors.push(`unexpected request to ${route.request().url()}`);
      return route.abort();
    });
  }
  return page;
}

/** Runs `argv` inside test-fleet host `i` (all its namespaces, like the fleet itself does). */
export function inHost(fleet, i, argv) {
  const ns = `/proc/${fleet.hosts[i].holder_pid}/ns`;
  const r = spawnSync("nsenter", [`--mount=${ns}/mnt`, `--net=${ns}/net`, `--uts=${ns}/uts`, `--pid=${ns}/pid_for_children`, "--", ...argv], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} in host ${i} failed (${r.status}): ${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** GET http://<host><path> through `addr:port` (a fleet host's own namespace address): status and body. */
export function httpGet(addr, port, host, path = "/") {
  return new Promise((resolveGet) => {
    const req = httpRequest({ host: addr, port, path, headers: { host }, timeout: 3000 }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolveGet({ status: res.statusCode, body }));
    });
    req.on("error", (e) => resolveGet({ status: 0, body: String(e) }));
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.end();
  });
}

/** Polls `f` every 250 ms until it returns something truthy (returned), or fails after `seconds`. */
export async function eventually(what, seconds, f) {
  const until = Date.now() + seconds * 1000;
  let last;
  while (Date.now() < until) {
    last = await f();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not within ${seconds} s (last: ${JSON.stringify(last)})`);
}
