// Helpers of the domain form: the API's Domain ⇄ what the form holds (text
// inputs, list rows with stable keys), and the bodies of POST/PATCH.
import { newRow, type KvRow } from "./serverForm";
import type { Domain, DomainRequest, OptionsInput, RouteInput, Scheme } from "../api/domainTypes";
import type { TlsMode, TlsProfile } from "../api/certificates";

let nextId = 1;
/** A row of a list editor: a stable React key and its value. */
export interface ListRow {
  id: number;
  value: string;
}
export function listRow(value = ""): ListRow {
  return { id: nextId++, value };
}

/** A response header row (`key` = header name), edited with KeyValueEditor. */
export type HeaderRow = KvRow;

export interface RouteRow {
  id: number;
  path: string;
  target_ip: string;
  target_port: string;
  /** How the proxy talks to this route's target (the API's default is http). */
  scheme: Scheme;
}
export function routeRow(r?: Partial<Omit<RouteRow, "id">>): RouteRow {
  return { id: nextId++, path: r?.path ?? "", target_ip: r?.target_ip ?? "", target_port: r?.target_port ?? "", scheme: r?.scheme ?? "http" };
}
export function headerRow(key = "", value = ""): HeaderRow {
  return newRow(key, value);
}

export interface DomainFormValues {
  group_id: string;
  name: string;
  target_ip: string;
  target_port: string;
  scheme: Scheme;
  enabled: boolean;
  aliases: ListRow[];
  websocket: boolean;
  /** HTTPS: none, an uploaded certificate (`certificate_id`) or ACME. */
  tls: TlsMode;
  /** The uploaded certificate's id ("" = none chosen); sent only with `tls: certificate`. */
  certificate_id: string;
  redirect_https: boolean;
  hsts: boolean;
  hsts_max_age: string;
  http2: boolean;
  tls_profile: TlsProfile;
  max_body_size_mb: string;
  proxy_connect_timeout: string;
  proxy_read_timeout: string;
  proxy_send_timeout: string;
  response_headers: HeaderRow[];
  allow: ListRow[];
  deny: ListRow[];
  routes: RouteRow[];
}

export function emptyDomainForm(groupId = ""): DomainFormValues {
  return {
    group_id: groupId,
    name: "",
    target_ip: "",
    target_port: "80",
    scheme: "http",
    enabled: true,
    aliases: [],
    websocket: false,
    tls: "none",
    certificate_id: "",
    redirect_https: false,
    hsts: false,
    hsts_max_age: "31536000",
    http2: false,
    tls_profile: "intermediate",
    max_body_size_mb: "",
    proxy_connect_timeout: "",
    proxy_read_timeout: "",
    proxy_send_timeout: "",
    response_headers: [],
    allow: [],
    deny: [],
    routes: [],
  };
}

const text = (n: number | null | undefined) => (n == null ? "" : String(n));

export function formFromDomain(d: Domain): DomainFormValues {
  const o = d.options;
  return {
    group_id: String(d.group.id),
    name: d.name_unicode || d.name,
    target_ip: d.target_ip,
    target_port: String(d.target_port),
    scheme: d.scheme,
    enabled: d.enabled,
    aliases: d.aliases.map((a) => listRow(a)),
    websocket: o.websocket,
    tls: o.tls ?? "none",
    certificate_id: text(o.certificate_id),
    redirect_https: o.redirect_https,
    hsts: o.hsts,
    hsts_max_age: text(o.hsts_max_age),
    http2: o.http2 ?? false,
    tls_profile: o.tls_profile ?? "intermediate",
    max_body_size_mb: text(o.max_body_size_mb),
    proxy_connect_timeout: text(o.proxy_connect_timeout),
    proxy_read_timeout: text(o.proxy_read_timeout),
    proxy_send_timeout: text(o.proxy_send_timeout),
    response_headers: o.response_headers.map((h) => headerRow(h.name, h.value)),
    allow: o.allow.map((a) => listRow(a)),
    deny: o.deny.map((a) => listRow(a)),
    routes: d.routes.map((r) => routeRow({ path: r.path, target_ip: r.target_ip, target_port: String(r.target_port), scheme: r.scheme })),
  };
}

/**
 * A number input's value for the API: a whole number becomes a number, an
 * empty input `null`; anything else goes as is, so the API's message shows on
 * the field instead of the browser guessing.
 */
export function intValue(s: string): number | null {
  const t = s.trim();
  if (!t) return null;
  return /^-?\d+$/.test(t) ? Number(t) : (t as unknown as number);
}

/** List values; empty rows are dropped only at the end, so indexes still match the rows the user sees. */
function listValues(rows: readonly ListRow[]): string[] {
  const values = rows.map((r) => r.value.trim());
  while (values.length && !values[values.length - 1]) values.pop();
  return values;
}

export function optionsBody(v: DomainFormValues): OptionsInput {
  return {
    websocket: v.websocket,
    tls: v.tls,
    // Only the uploaded-certificate mode has one; the API drops a left-over id anyway.
    certificate_id: v.tls === "certificate" ? intValue(v.certificate_id) : null,
    redirect_https: v.redirect_https,
    hsts: v.hsts,
    hsts_max_age: intValue(v.hsts_max_age) ?? 31536000,
    http2: v.http2,
    tls_profile: v.tls_profile,
    max_body_size_mb: intValue(v.max_body_size_mb),
    proxy_connect_timeout: intValue(v.proxy_connect_timeout),
    proxy_read_timeout: intValue(v.proxy_read_timeout),
    proxy_send_timeout: intValue(v.proxy_send_timeout),
    response_headers: v.response_headers.map((h) => ({ name: h.key.trim(), value: h.value })),
    allow: listValues(v.allow),
    deny: listValues(v.deny),
  };
}

export function routesBody(v: DomainFormValues): RouteInput[] {
  return v.routes.map((r) => ({ path: r.path.trim(), target_ip: r.target_ip.trim(), target_port: intValue(r.target_port), scheme: r.scheme }));
}

/** The names a certificate must cover: the domain and its (non-empty) aliases, as typed. */
export function servedNames(v: Pick<DomainFormValues, "name" | "aliases">): string[] {
  return [v.name, ...v.aliases.map((a) => a.value)].map((n) => n.trim()).filter(Boolean);
}

/** Body of POST /api/v1/domains (and PATCH: the form always sends the whole domain). */
export function domainBody(v: DomainFormValues): DomainRequest {
  return {
    group_id: intValue(v.group_id) as number,
    name: v.name.trim(),
    target_ip: v.target_ip.trim(),
    target_port: (intValue(v.target_port) ?? 80) as number,
    scheme: v.scheme,
    aliases: listValues(v.aliases),
    enabled: v.enabled,
    options: optionsBody(v),
    routes: routesBody(v),
  };
}

/** Every API field the domain form shows; groups end in "." or "[". */
export const DOMAIN_FORM_FIELDS = [
  "group_id",
  "name",
  "target_ip",
  "target_port",
  "scheme",
  "enabled",
  "aliases",
  "aliases[",
  "options",
  "options.",
  "routes",
  "routes[",
] as const;
