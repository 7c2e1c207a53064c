// Test harness for components that need the whole panel around them: a
// fake API (routes by method and path template), the auth, toast and event
// providers (with a hub the test drives), and a router.
import { act, render } from "@testing-library/react";
import type { ReactNode } from "react";
import { MemoryRouter, Route, Routes } from "react-router";
import { vi } from "vitest";
import { api, ApiError, type Role } from "../api/client";
import { EventHub, EventsProvider, type EventSourceLike } from "../api/events";
import { AuthProvider, useAuth } from "../auth/AuthContext";
import { ToastProvider } from "../components/Toasts";

class FakeSource implements EventSourceLike {
  onopen: EventSourceLike["onopen"] = null;
  onerror: EventSourceLike["onerror"] = null;
  readyState = 1;
  addEventListener() {}
  close() {}
}

type Handler = (init: { params?: { path?: Record<string, unknown>; query?: Record<string, unknown> }; body?: unknown }) => unknown;

/** A fake API: `on("GET", "/api/v1/servers/{id}/proxy", () => state)`; a thrown `ApiError` becomes a problem response. */
export class FakeApi {
  private routes = new Map<string, Handler>();
  readonly calls: { method: string; path: string; params?: unknown; body?: unknown }[] = [];

  on(method: string, path: string, handler: Handler): this {
    this.routes.set(`${method} ${path}`, handler);
    return this;
  }

  install(): void {
    for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE"] as const) {
      vi.spyOn(api, method).mockImplementation((async (path: string, init: Parameters<Handler>[0] = {}) => {
        this.calls.push({ method, path, params: init?.params, body: init?.body });
        const h = this.routes.get(`${method} ${path}`);
        if (!h) return { error: { code: "not_found", detail: `no fake for ${method} ${path}`, status: 404 }, response: new Response(null, { status: 404 }) };
        try {
          const data = await h(init ?? {});
          return { data, response: new Response(null, { status: method === "POST" ? 202 : 200 }) };
        } catch (e) {
          if (e instanceof ApiError) return { error: { code: e.code, detail: e.detail, status: e.status, errors: e.errors }, response: new Response(null, { status: e.status }) };
          throw e;
        }
      }) as never);
    }
  }

  callsTo(method: string, path: string) {
    return this.calls.filter((c) => c.method === method && c.path === path);
  }
}

let eventId = 0;
/** Feeds one event to the hub, as the stream would. */
export function emit(hub: EventHub, kind: string, payload: unknown, entity_id?: string): void {
  act(() => hub.receive(JSON.stringify({ id: ++eventId, at: new Date().toISOString(), kind, entity_id, payload })));
}

function Authenticated({ children }: { children: ReactNode }) {
  const { state } = useAuth();
  return state.status === "authenticated" ? <>{children}</> : null;
}

/** Renders `ui` signed in as `role`, at `path` (matched by `route`, default `*`). */
export function renderApp(ui: ReactNode, { fake, role = "operator", path = "/", route = "*" }: { fake: FakeApi; role?: Role; path?: string; route?: string }) {
  fake.on("GET", "/api/v1/auth/me", () => ({ id: 1, username: role === "viewer" ? "vera" : "olga", display_name: "", role, auth: "session", csrf_token: "t" }));
  fake.install();
  const hub = new EventHub(() => new FakeSource());
  const result = render(
    <MemoryRouter initialEntries={[path]}>
      <ToastProvider>
        <AuthProvider>
          <EventsProvider hub={hub} enabled>
            <Authenticated>
              <Routes>
                <Route path={route} element={ui} />
              </Routes>
            </Authenticated>
          </EventsProvider>
        </AuthProvider>
      </ToastProvider>
    </MemoryRouter>,
  );
  return { ...result, hub };
}
