// The typed API client. Types come from `schema.d.ts`, which
// `npm run gen:api` generates from `openapi.json` (Gantry's OpenAPI document),
// so a backend change that breaks the panel fails `npm run check`.
//
// Rules (docs/api.md): same-origin fetch with the session cookie, the CSRF
// token (kept in memory only, never in storage) on every mutating request,
// problem+json errors turned into `ApiError` with the stable `code`.
import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type User = Schemas["User"];
export type Me = Schemas["Me"];
export type Role = Schemas["Role"];
export type Job = Schemas["Job"];
export type JobStatus = Schemas["JobStatus"];
export type AuditRecord = Schemas["AuditRecord"];
export type TokenInfo = Schemas["TokenInfo"];
export type CreatedToken = Schemas["CreatedToken"];
export type SystemInfo = Schemas["SystemInfo"];
export type FieldError = Schemas["FieldError"];
export type Problem = Schemas["Problem"];
export type Server = Schemas["Server"];
export type ServerRequest = Schemas["ServerRequest"];
export type ServerStatus = Schemas["ServerStatus"];
export type Privilege = Schemas["Privilege"];
export type Deleted = Schemas["Deleted"];
export type ApiClient = Client<paths>;

/** A list page: `{items, next}` with an opaque keyset cursor. */
export interface Page<T> {
  items: T[];
  next?: string | null;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** A failed API call: the parsed problem+json document, or a network failure. */
export class ApiError extends Error {
  readonly status: number;
  /** Stable machine code (`validation_failed`, `stale`, …); `network` when no answer came. */
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  readonly errors: FieldError[];
  readonly requestId: string | null;

  constructor(init: {
    status: number;
    code: string;
    title?: string;
    detail: string;
    errors?: FieldError[];
    requestId?: string | null;
  }) {
    super(init.detail);
    this.name = "ApiError";
    this.status = init.status;
    this.code = init.code;
    this.title = init.title ?? "";
    this.detail = init.detail;
    this.errors = init.errors ?? [];
    this.requestId = init.requestId ?? null;
  }

  /** The message for one input field, if the API named it in `errors[]`. */
  fieldError(field: string): string | undefined {
    return this.errors.find((e) => e.field === field)?.message;
  }
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

const GENERIC_DETAIL: Record<number, string> = {
  401: "You are not signed in.",
  403: "You are not allowed to do this.",
  404: "Not found.",
  500: "The server failed. Try again; if it keeps failing, check the server log.",
  502: "The server could not be reached.",
  503: "The server is not ready.",
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Turns an error response body (problem+json, other JSON or text) into an `ApiError`. */
export function parseProblem(status: number, body: unknown, requestId?: string | null): ApiError {
  if (isObject(body) && typeof body.code === "string") {
    const errors = Array.isArray(body.errors)
      ? body.errors.filter(
          (e): e is FieldError =>
            isObject(e) && typeof e.field === "string" && typeof e.message === "string",
        )
      : [];
    return new ApiError({
      status: typeof body.status === "number" ? body.status : status,
      code: body.code,
      title: typeof body.title === "string" ? body.title : "",
      detail:
        typeof body.detail === "string" && body.detail
          ? body.detail
          : GENERIC_DETAIL[status] ?? `Request failed (${status}).`,
      errors,
      requestId: typeof body.request_id === "string" ? body.request_id : requestId ?? null,
    });
  }
  return new ApiError({
    status,
    code: status >= 500 ? "internal" : `http_${status}`,
    detail: GENERIC_DETAIL[status] ?? `Request failed (${status}).`,
    requestId: requestId ?? null,
  });
}

// --- CSRF token: memory only ----------------------------------------------
let csrfToken: string | null = null;

export function setCsrfToken(token: string | null | undefined): void {
  csrfToken = token ?? null;
}

export function getCsrfToken(): string | null {
  return csrfToken;
}

// --- session expiry notifications --------------------------------------------
type Listener = () => void;
const unauthenticatedListeners = new Set<Listener>();

/** Called whenever an API call answers 401 `unauthenticated` (session ended or expired). */
export function onUnauthenticated(listener: Listener): () => void {
  unauthenticatedListeners.add(listener);
  return () => unauthenticatedListeners.delete(listener);
}

const csrfMiddleware: Middleware = {
  onRequest({ request }) {
    if (!SAFE_METHODS.has(request.method.toUpperCase()) && csrfToken) {
      request.headers.set("X-CSRF-Token", csrfToken);
    }
    return request;
  },
  async onResponse({ response }) {
    if (response.status === 401) {
      try {
        const body: unknown = await response.clone().json();
        if (isObject(body) && body.code === "unauthenticated") {
          unauthenticatedListeners.forEach((l) => l());
        }
      } catch {
        /* not JSON: ignore */
      }
    }
    return response;
  },
};

export interface CreateApiOptions {
  baseUrl?: string;
  fetch?: (input: Request) => Promise<Response>;
}

/** Builds a client. The app uses the shared `api`; tests build their own with a fake fetch. */
export function createApi(options: CreateApiOptions = {}): ApiClient {
  const client = createClient<paths>({
    baseUrl: options.baseUrl ?? "",
    credentials: "same-origin",
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  client.use(csrfMiddleware);
  return client;
}

export const api: ApiClient = createApi();

type FetchResult<T> = { data?: T; error?: unknown; response: Response };

/**
 * Awaits an openapi-fetch call and returns its data and response, or throws
 * an `ApiError` (network failures become code `network`).
 */
export async function callRaw<T>(request: Promise<FetchResult<T>>): Promise<{ data: T; response: Response }> {
  let result: FetchResult<T>;
  try {
    result = await request;
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw new ApiError({
      status: 0,
      code: "network",
      detail: "Gantry could not be reached. Check your connection and that the server is running.",
    });
  }
  const { response } = result;
  if (!response.ok) {
    throw parseProblem(response.status, result.error, response.headers.get("x-request-id"));
  }
  return { data: result.data as T, response };
}

/** Awaits an openapi-fetch call and returns its data, or throws an `ApiError`. */
export async function call<T>(request: Promise<FetchResult<T>>): Promise<T> {
  return (await callRaw(request)).data;
}

/** `If-Match` value for a resource version (`ETag: "<version>"`). */
export function ifMatch(version: number): string {
  return `"${version}"`;
}

const ROLE_RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** True if `role` is at least `min` (viewer < operator < admin). */
export function hasRole(role: Role | undefined | null, min: Role): boolean {
  return role != null && ROLE_RANK[role] >= ROLE_RANK[min];
}

export const ROLES: Role[] = ["viewer", "operator", "admin"];
