import { describe, expect, it } from "vitest";
import { buildChecklist, formatDuration, parseStepLine } from "./serverCheck";

const states = (list: ReturnType<typeof buildChecklist>) => Object.fromEntries(list.map((s) => [s.step, s.state]));

describe("parseStepLine", () => {
  it("parses passed and failed steps with their message", () => {
    expect(parseStepLine("tcp: ok (port 22 open)")).toEqual({ step: "tcp", ok: true, message: "port 22 open" });
    expect(parseStepLine("auth: FAILED (authentication failed for user deploy (the server did not accept the key))")).toEqual({
      step: "auth",
      ok: false,
      message: "authentication failed for user deploy (the server did not accept the key)",
    });
    expect(parseStepLine("privilege: ok")).toEqual({ step: "privilege", ok: true, message: "" });
  });

  it("counts a known step's plain summary as passed (the facts line)", () => {
    expect(parseStepLine("facts: debian 12 on x86_64, 69334 MiB free, init sh, nginx 1.22.1")).toEqual({
      step: "facts",
      ok: true,
      message: "debian 12 on x86_64, 69334 MiB free, init sh, nginx 1.22.1",
    });
  });

  it("ignores lines that are not steps", () => {
    expect(parseStepLine("connecting to 198.18.0.2:22")).toBeNull();
    expect(parseStepLine('{"ok":false,"steps":[]}')).toBeNull();
    expect(parseStepLine("database: ok (reachable)")).toBeNull();
  });
});

describe("buildChecklist", () => {
  it("marks steps live and the next one as running", () => {
    const list = buildChecklist({
      status: "running",
      messages: ["connecting to 10.0.0.5:22", "resolve: ok (10.0.0.5 → 10.0.0.5)", "tcp: ok (port 22 open)"],
    });
    expect(states(list)).toEqual({
      resolve: "ok",
      tcp: "ok",
      handshake: "running",
      host_key: "pending",
      auth: "pending",
      privilege: "pending",
      facts: "pending",
    });
    expect(list[1].message).toBe("port 22 open");
  });

  it("shows nothing running before the job starts", () => {
    expect(buildChecklist({ status: "queued", messages: [] }).every((s) => s.state === "pending")).toBe(true);
  });

  it("stops at a failed step; when the job ends the rest is skipped and durations come from the log's result", () => {
    const result = {
      ok: false,
      facts: null,
      steps: [
        { step: "resolve", ok: true, duration_ms: 0, message: "a" },
        { step: "tcp", ok: true, duration_ms: 1, message: "port 22 open" },
        { step: "handshake", ok: true, duration_ms: 20, message: "SSH protocol negotiated" },
        { step: "host_key", ok: true, duration_ms: 20, message: "pinned" },
        { step: "auth", ok: false, duration_ms: 7, message: "the server did not accept the key" },
      ],
    };
    const live = ["tcp: ok (port 22 open)", "auth: FAILED (the server did not accept the key)"];
    expect(states(buildChecklist({ status: "running", messages: live })).privilege).toBe("pending");
    const list = buildChecklist({
      status: "failed",
      messages: [...live, JSON.stringify(result)],
      error: "auth: the server did not accept the key",
    });
    expect(states(list)).toEqual({ resolve: "ok", tcp: "ok", handshake: "ok", host_key: "ok", auth: "failed", privilege: "skipped", facts: "skipped" });
    expect(list.find((s) => s.step === "auth")).toMatchObject({ durationMs: 7, message: "the server did not accept the key" });
  });

  it("marks the step named by the job error when no line said so", () => {
    const list = buildChecklist({ status: "failed", messages: ["connecting to h:22"], error: "tcp: connection refused" });
    expect(states(list)).toMatchObject({ resolve: "skipped", tcp: "failed", handshake: "skipped" });
    expect(list[1].message).toBe("connection refused");
  });

  it("reconciles with the result of a successful job", () => {
    const result = {
      ok: true,
      steps: ["resolve", "tcp", "handshake", "host_key", "auth", "privilege", "facts"].map((step, i) => ({ step, ok: true, duration_ms: i * 10, message: `m${i}` })),
      facts: {},
    };
    const list = buildChecklist({ status: "succeeded", messages: ["tcp: ok (x)"], result });
    expect(list.every((s) => s.state === "ok")).toBe(true);
    expect(list[6]).toMatchObject({ durationMs: 60, message: "m6" });
  });

  it("formats durations", () => {
    expect(formatDuration(12)).toBe("12 ms");
    expect(formatDuration(1400)).toBe("1.4 s");
  });
});
