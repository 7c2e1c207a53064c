import { describe, expect, it } from "vitest";
import { mergeJob } from "../components/JobProgress";
import type { Job } from "./client";
import { EventHub, type EventSourceLike } from "./events";

class FakeSource implements EventSourceLike {
  listeners = new Map<string, (e: MessageEvent) => void>();
  onopen: EventSourceLike["onopen"] = null;
  onerror: EventSourceLike["onerror"] = null;
  readyState = 0;
  closed = false;
  constructor(public url: string) {}
  addEventListener(type: string, l: (e: MessageEvent) => void) {
    this.listeners.set(type, l);
  }
  close() {
    this.closed = true;
  }
  emit(kind: string, data: unknown) {
    this.listeners.get(kind)?.(new MessageEvent(kind, { data: JSON.stringify(data) }));
  }
}

const update = (id: number, progress: number, status: string, message: string | null) => ({
  id,
  at: "2026-01-01T00:00:00Z",
  kind: "job.updated",
  entity_type: "job",
  entity_id: "1",
  payload: { job_id: 1, kind: "system.selfcheck", status, progress, message },
});

describe("EventHub", () => {
  it("opens one stream, tracks job progress and dispatches by kind prefix", () => {
    let source: FakeSource | undefined;
    const hub = new EventHub((url) => (source = new FakeSource(url)));
    hub.connect();
    expect(source!.url).toBe("/api/v1/events?kinds=job.,user.,server.,domain.,domain_group.,proxy.,certificate.,task.,event.");
    const seen: string[] = [];
    const off = hub.subscribe("job.", (e) => seen.push(e.kind));
    source!.emit("job.updated", update(1, 20, "running", "database reachable"));
    source!.emit("job.updated", update(2, 100, "succeeded", "done"));
    source!.emit("job.updated", update(1, 50, "running", "stale, older event id")); // ignored: older id
    expect(hub.getJob(1)).toMatchObject({ progress: 100, status: "succeeded", messages: [{ message: "database reachable" }, { message: "done" }] });
    expect(seen).toEqual(["job.updated", "job.updated", "job.updated"]);
    off();
    hub.disconnect();
    expect(source!.closed).toBe(true);
    expect(hub.getJob(1)).toBeUndefined();
  });

  it("listens to server status changes", () => {
    let source: FakeSource | undefined;
    const hub = new EventHub((url) => (source = new FakeSource(url)));
    hub.connect();
    const seen: unknown[] = [];
    hub.subscribe("server.", (e) => seen.push(e.payload));
    const payload = { server_id: 1, name: "web-1", from: "unknown", to: "ok", message: null };
    source!.emit("server.status_changed", { id: 9, at: "2026-01-01T00:00:00Z", kind: "server.status_changed", payload });
    expect(seen).toEqual([payload]);
    hub.disconnect();
  });
});

describe("mergeJob", () => {
  const fetched = { id: 1, kind: "system.selfcheck", status: "queued", progress: 0, message: null, log: [] } as unknown as Job;
  it("prefers the live state while the fetched job is behind", () => {
    const v = mergeJob(1, fetched, { job_id: 1, kind: "system.selfcheck", status: "running", progress: 40, message: "m", messages: [{ at: "t", message: "m" }], eventId: 3 });
    expect(v).toMatchObject({ status: "running", progress: 40, log: [{ message: "m" }] });
  });
  it("keeps a finished fetched job over an older live update", () => {
    const done = { ...fetched, status: "succeeded", progress: 100 } as Job;
    const v = mergeJob(1, done, { job_id: 1, kind: "k", status: "running", progress: 60, message: null, messages: [], eventId: 2 });
    expect(v).toMatchObject({ status: "succeeded", progress: 100 });
  });
});
