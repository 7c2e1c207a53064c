import { act, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { api, type Job } from "../api/client";
import { EventHub, EventsProvider, type EventSourceLike } from "../api/events";
import { ServerCheckProgress } from "./ServerCheck";

class FakeSource implements EventSourceLike {
  listeners = new Map<string, (e: MessageEvent) => void>();
  onopen: EventSourceLike["onopen"] = null;
  onerror: EventSourceLike["onerror"] = null;
  readyState = 1;
  addEventListener(type: string, l: (e: MessageEvent) => void) {
    this.listeners.set(type, l);
  }
  close() {}
}

const job = (over: Partial<Job>): Job =>
  ({ id: 7, kind: "servers.check", status: "queued", progress: 0, message: null, log: [], result: null, error: null, ...over }) as unknown as Job;

let eventId = 0;
function emit(hub: EventHub, status: string, progress: number, message: string) {
  act(() => hub.receive(JSON.stringify({ id: ++eventId, at: "2026-01-01T00:00:00Z", kind: "job.updated", payload: { job_id: 7, kind: "servers.check", status, progress, message } })));
}

const stateOf = (step: string) => document.querySelector(`[data-step="${step}"]`)?.getAttribute("data-state");

afterEach(() => vi.restoreAllMocks());

describe("ServerCheckProgress", () => {
  it("turns steps green and red live from the event stream, then reconciles with the finished job", async () => {
    const finalJob = job({
      status: "failed",
      progress: 100,
      error: "auth: the server did not accept the key",
      log: [
        { at: "t", level: "info", message: "tcp: ok (port 22 open)" },
        {
          at: "t",
          level: "info",
          message: JSON.stringify({ ok: false, steps: [{ step: "tcp", ok: true, duration_ms: 3, message: "port 22 open" }, { step: "auth", ok: false, duration_ms: 7, message: "the server did not accept the key" }] }),
        },
      ],
    });
    let current = job({ status: "running" });
    const get = vi.spyOn(api, "GET").mockImplementation((async () => ({ data: current, response: new Response(null, { status: 200 }) })) as never);
    const hub = new EventHub(() => new FakeSource());
    const finished = vi.fn();
    render(
      <EventsProvider hub={hub} enabled>
        <ServerCheckProgress jobId={7} initial={job({})} onFinished={finished} />
      </EventsProvider>,
    );
    await waitFor(() => expect(get).toHaveBeenCalled());
    emit(hub, "running", 10, "resolve: ok (10.0.0.5 → 10.0.0.5)");
    emit(hub, "running", 20, "tcp: ok (port 22 open)");
    expect(stateOf("resolve")).toBe("ok");
    expect(stateOf("tcp")).toBe("ok");
    expect(stateOf("handshake")).toBe("running");
    expect(screen.getByText("port 22 open")).toBeInTheDocument();
    emit(hub, "running", 50, "auth: FAILED (the server did not accept the key)");
    expect(stateOf("auth")).toBe("failed");
    expect(finished).not.toHaveBeenCalled();

    current = finalJob;
    emit(hub, "failed", 100, "auth: FAILED (the server did not accept the key)");
    await waitFor(() => expect(finished).toHaveBeenCalledWith(finalJob));
    expect(stateOf("privilege")).toBe("skipped");
    expect(screen.getByText("7 ms")).toBeInTheDocument();
    expect(screen.getByText("Check failed at “Authenticate”.")).toBeInTheDocument();
  });
});
