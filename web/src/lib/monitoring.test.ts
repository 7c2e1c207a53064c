import { describe, expect, it } from "vitest";
import type { EventLogEntry } from "../api/monitoring";
import { effectiveRange, entityTarget, eventQuery, EVENT_FILTERS, healthTiles, matchesEventFilters, mergeNewest, type EventFilters } from "./monitoring";

const NOW = Date.parse("2026-12-06T12:00:00Z");
const none = Object.fromEntries(EVENT_FILTERS.map((k) => [k, ""])) as EventFilters;
const f = (over: Partial<EventFilters>) => ({ ...none, ...over });
const e = (over: Partial<EventLogEntry> = {}): EventLogEntry => ({
  id: 1,
  at: "2026-12-06T11:59:00Z",
  severity: "warning",
  module: "servers",
  kind: "server.check_failed",
  entity_type: "server",
  entity_id: "3",
  entity_name: "edge-1",
  job_id: 12,
  message: "Check of edge-1 failed: connection refused",
  details: {},
  ...over,
});

describe("event filters", () => {
  it("build the API query: presets from now, custom bounds as given, bad values passed on for the API to name", () => {
    expect(eventQuery(none, NOW)).toEqual({});
    expect(eventQuery(f({ module: "servers, proxy", severity: "warning", q: " refused ", range: "1h" }), NOW)).toEqual({
      module: "servers,proxy",
      severity: "warning",
      q: "refused",
      since: "2026-12-06T11:00:00.000Z",
    });
    expect(eventQuery(f({ since: "2026-12-01T00:00:00Z", until: "2026-12-02T00:00:00Z" }), NOW)).toEqual({ since: "2026-12-01T00:00:00Z", until: "2026-12-02T00:00:00Z" });
    // A preset wins over leftover custom bounds.
    expect(eventQuery(f({ range: "7d", since: "2026-12-01T00:00:00Z" }), NOW)).toEqual({ since: "2026-11-29T12:00:00.000Z" });
    expect(eventQuery(f({ severity: "fatal", entity_id: "7", job_id: "12" }), NOW)).toEqual({ severity: "fatal", entity_id: "7", job_id: 12 });
    expect(effectiveRange(f({ since: "2026-12-01T00:00:00Z" }))).toBe("custom");
    expect(effectiveRange(f({}))).toBe("");
  });

  it("match a live entry the way the API would", () => {
    const m = (over: Partial<EventFilters>, entry = e()) => matchesEventFilters(entry, f(over), NOW);
    expect(m({})).toBe(true);
    expect(m({ module: "proxy,servers" })).toBe(true);
    expect(m({ module: "proxy" })).toBe(false);
    expect(m({ severity: "warning" })).toBe(true);
    expect(m({ severity: "error" })).toBe(false);
    expect(m({ severity: "info" })).toBe(true);
    expect(m({ kind: "server." })).toBe(true);
    expect(m({ kind: "server.check_failed" })).toBe(true);
    expect(m({ kind: "server.check" })).toBe(false);
    expect(m({ entity_type: "server", entity_id: "3" })).toBe(true);
    expect(m({ entity_type: "server", entity_id: "4" })).toBe(false);
    expect(m({ job_id: "12" })).toBe(true);
    expect(m({ job_id: "13" })).toBe(false);
    expect(m({ q: "REFUSED" })).toBe(true);
    expect(m({ q: "edge-1" }, e({ message: "down" }))).toBe(true);
    expect(m({ q: "nothing" })).toBe(false);
    expect(m({ range: "1h" })).toBe(true);
    expect(m({ range: "1h" }, e({ at: "2026-12-06T10:00:00Z" }))).toBe(false);
    expect(m({ until: "2026-12-06T11:00:00Z" })).toBe(false);
    expect(m({ since: "2026-12-06T11:00:00Z" })).toBe(true);
  });

  it("merge live entries newest first, once", () => {
    const list = [e({ id: 5 }), e({ id: 3 })];
    expect(mergeNewest(list, [e({ id: 4 }), e({ id: 6 }), e({ id: 5 })]).map((x) => x.id)).toEqual([6, 5, 4, 3]);
    expect(mergeNewest(list, [e({ id: 5 })])).toBe(list);
  });

  it("know where an entity lives", () => {
    expect(entityTarget({ entity_type: "server", entity_id: "3" }, false)).toEqual({ kind: "link", href: "/servers/3" });
    expect(entityTarget({ entity_type: "certificate", entity_id: "3" }, false)).toEqual({ kind: "link", href: "/certificates" });
    expect(entityTarget({ entity_type: "pve_deployment", entity_id: "8" }, false)).toEqual({ kind: "link", href: "/proxmox/deployments/8" });
    expect(entityTarget({ entity_type: "user", entity_id: "1" }, true)).toEqual({ kind: "link", href: "/users" });
    expect(entityTarget({ entity_type: "user", entity_id: "1" }, false)).toBeNull();
    expect(entityTarget({ entity_type: "job", entity_id: "9" }, false)).toEqual({ kind: "job", id: 9 });
    expect(entityTarget({ entity_type: "thing", entity_id: "9" }, true)).toBeNull();
    expect(entityTarget({ entity_type: null, entity_id: null }, true)).toBeNull();
  });
});

describe("health tiles", () => {
  it("are calm without problems, and show states the panel does not know", () => {
    const tiles = healthTiles(
      {
        servers: { counts: { ok: 2 } },
        proxies: { counts: { in_sync: 2, not_installed: 1 } },
        certificates: { counts: { ok: 1, renewal_failing: 0 } },
        jobs: { counts: { queued: 0, running: 0, failed: 0 } },
        stands: { counts: { ready: 2, cleaning: 1 } },
        tasks: { counts: { open: 0, overdue: 0 } },
        events: { counts: { info: 4, warning: 0, error: 0 } },
      },
      NOW,
    );
    expect(tiles.map((t) => [t.id, t.tone])).toEqual([
      ["servers", "ok"],
      ["proxies", "ok"],
      ["certificates", "ok"],
      ["jobs", "ok"],
      ["stands", "ok"],
      ["tasks", "ok"],
      ["events", "ok"],
    ]);
    expect(tiles[1].headline).toBe("2 proxies");
    expect(tiles[4].counts.map((c) => `${c.count} ${c.label}`)).toEqual(["2 ready", "1 cleaning"]);
    expect(tiles[5].counts.find((c) => c.key === "overdue")!.href).toBe("/tasks?due_before=2026-12-05&sort=due_date");
  });
});
