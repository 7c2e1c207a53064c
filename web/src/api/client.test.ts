import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, call, callRaw, createApi, hasRole, ifMatch, onUnauthenticated, parseProblem, setCsrfToken } from "./client";

function json(status: number, body: unknown, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
}

function fakeApi(respond: (req: Request) => Response | Promise<Response>) {
  const requests: Request[] = [];
  const api = createApi({
    baseUrl: "http://gantry.test",
    fetch: async (req: Request) => {
      requests.push(req);
      return respond(req);
    },
  });
  return { api, requests };
}

afterEach(() => setCsrfToken(null));

describe("API client", () => {
  it("adds X-CSRF-Token to mutations only, and sends cookies same-origin", async () => {
    setCsrfToken("csrf-123");
    const { api, requests } = fakeApi((req) =>
      req.method === "GET" ? json(200, { version: "1", database: "sqlite", migrations: [] }) : new Response(null, { status: 204 }),
    );
    await call(api.GET("/api/v1/system/info"));
    await call(api.POST("/api/v1/auth/password", { body: { current_password: "a", new_password: "b" } }));
    await call(api.DELETE("/api/v1/tokens/{id}", { params: { path: { id: 7 } } }));
    expect(requests.map((r) => [r.method, r.headers.get("X-CSRF-Token")])).toEqual([
      ["GET", null],
      ["POST", "csrf-123"],
      ["DELETE", "csrf-123"],
    ]);
    expect(requests[1].credentials).toBe("same-origin");
    expect(requests[2].url).toBe("http://gantry.test/api/v1/tokens/7");
  });

  it("sends no CSRF header before login", async () => {
    const { api, requests } = fakeApi(() => json(200, { user: {}, csrf_token: "x", expires_at: "" }));
    await call(api.POST("/api/v1/auth/login", { body: { username: "a", password: "b" } }));
    expect(requests[0].headers.has("X-CSRF-Token")).toBe(false);
  });

  it("turns problem+json into an ApiError with code, detail and field errors", async () => {
    const problem = {
      type: "urn:gantry:problem:validation_failed",
      title: "Unprocessable Entity",
      status: 422,
      code: "validation_failed",
      detail: "2 fields are invalid",
      errors: [
        { field: "username", message: "must be 1 to 64 characters" },
        { field: "password", message: "must be at least 10 characters" },
      ],
      request_id: "req-1",
    };
    const { api } = fakeApi(() => json(422, problem, { "content-type": "application/problem+json" }));
    const err = await call(api.POST("/api/v1/users", { body: { username: "", role: "viewer", password: "x" } })).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(422);
    expect(err.code).toBe("validation_failed");
    expect(err.detail).toBe("2 fields are invalid");
    expect(err.requestId).toBe("req-1");
    expect(err.fieldError("password")).toBe("must be at least 10 characters");
    expect(err.fieldError("role")).toBeUndefined();
  });

  it("handles non-problem error bodies and network failures", async () => {
    expect(parseProblem(502, "Bad Gateway")).toMatchObject({ status: 502, code: "internal", errors: [] });
    expect(parseProblem(418, null)).toMatchObject({ code: "http_418" });
    expect(parseProblem(400, { code: "bad_query", errors: [{ field: 1 }, { field: "limit", message: "too big" }] }).errors).toEqual([
      { field: "limit", message: "too big" },
    ]);
    const { api } = fakeApi(() => {
      throw new TypeError("Failed to fetch");
    });
    const err = await call(api.GET("/api/v1/system/info")).catch((e) => e);
    expect(err).toMatchObject({ code: "network", status: 0 });
  });

  it("exposes the response for ETags", async () => {
    const { api } = fakeApi(() => json(200, { id: 1, version: 4 }, { etag: '"4"' }));
    const { data, response } = await callRaw(api.GET("/api/v1/users/{id}", { params: { path: { id: 1 } } }));
    expect(data.version).toBe(4);
    expect(response.headers.get("etag")).toBe(ifMatch(4));
  });

  it("sends If-Match on PATCH and reports 412 as code stale", async () => {
    setCsrfToken("t");
    const { api, requests } = fakeApi(() => json(412, { type: "x", title: "Precondition Failed", status: 412, code: "stale", detail: "changed" }));
    const err = await call(
      api.PATCH("/api/v1/users/{id}", { params: { path: { id: 2 }, header: { "If-Match": ifMatch(3) } }, body: { role: "admin" } }),
    ).catch((e) => e);
    expect(requests[0].headers.get("If-Match")).toBe('"3"');
    expect(err.code).toBe("stale");
  });

  it("notifies listeners when the session is gone (401 unauthenticated), not on a wrong login", async () => {
    const listener = vi.fn();
    const off = onUnauthenticated(listener);
    const { api } = fakeApi((req) =>
      req.url.endsWith("/login")
        ? json(401, { type: "x", title: "Unauthorized", status: 401, code: "invalid_credentials", detail: "no" })
        : json(401, { type: "x", title: "Unauthorized", status: 401, code: "unauthenticated", detail: "no" }),
    );
    await call(api.POST("/api/v1/auth/login", { body: { username: "a", password: "b" } })).catch(() => {});
    expect(listener).not.toHaveBeenCalled();
    await call(api.GET("/api/v1/auth/me")).catch(() => {});
    expect(listener).toHaveBeenCalledTimes(1);
    off();
  });

  it("orders roles viewer < operator < admin", () => {
    expect(hasRole("admin", "operator")).toBe(true);
    expect(hasRole("operator", "admin")).toBe(false);
    expect(hasRole(undefined, "viewer")).toBe(false);
  });
});
