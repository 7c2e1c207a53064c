// Calls of the Domains API (domain groups, domains, bulk, import/export),
// shared by the Domains pages.
import { api, call, callRaw, type Page } from "./client";
import type { BulkAction, Domain, DomainGroup, DomainGroupRequest, DomainRequest, ImportFormat, ImportReport } from "./domainTypes";

export interface GroupFilters {
  q?: string;
  server_id?: number;
}

export function listGroups(f: GroupFilters, cursor?: string, limit = 50): Promise<Page<DomainGroup>> {
  return call(api.GET("/api/v1/domain-groups", { params: { query: { q: f.q || undefined, server_id: f.server_id, cursor, limit } } }));
}

/** Every group (for selects): follows the cursors. */
export async function allGroups(): Promise<DomainGroup[]> {
  const out: DomainGroup[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 50; i++) {
    const page = await listGroups({}, cursor, 200);
    out.push(...page.items);
    if (!page.next) break;
    cursor = page.next;
  }
  return out;
}

export function getGroup(id: number) {
  return callRaw(api.GET("/api/v1/domain-groups/{id}", { params: { path: { id } } }));
}

export function createGroup(body: DomainGroupRequest): Promise<DomainGroup> {
  return call(api.POST("/api/v1/domain-groups", { body }));
}

export function patchGroup(id: number, etag: string, body: DomainGroupRequest) {
  return callRaw(api.PATCH("/api/v1/domain-groups/{id}", { params: { path: { id }, header: { "If-Match": etag } }, body }));
}

export type GroupDeleteMode = { domains?: undefined } | { domains: "delete" } | { domains: "move"; move_to: number };

export function deleteGroup(id: number, mode: GroupDeleteMode) {
  return call(api.DELETE("/api/v1/domain-groups/{id}", { params: { path: { id }, query: mode } }));
}

export function importDomains(id: number, body: { format: ImportFormat; content: string; dry_run: boolean }): Promise<ImportReport> {
  return call(api.POST("/api/v1/domain-groups/{id}/import", { params: { path: { id } }, body }));
}

/** Same-origin URL of a group's export (a plain download link: the session cookie goes along). */
export function exportUrl(id: number, format: ImportFormat): string {
  return `/api/v1/domain-groups/${id}/export?format=${format}`;
}

export interface DomainFilters {
  q?: string;
  group_id?: number;
  server_id?: number;
  enabled?: boolean;
  /** `name`, `-name`, `id`, `-id`. */
  sort?: string;
}

export function listDomains(f: DomainFilters, cursor?: string, limit = 50): Promise<Page<Domain>> {
  return call(
    api.GET("/api/v1/domains", {
      params: { query: { q: f.q || undefined, group_id: f.group_id, server_id: f.server_id, enabled: f.enabled, sort: f.sort, cursor, limit } },
    }),
  );
}

export function getDomain(id: number) {
  return callRaw(api.GET("/api/v1/domains/{id}", { params: { path: { id } } }));
}

export function createDomain(body: DomainRequest): Promise<Domain> {
  return call(api.POST("/api/v1/domains", { body }));
}

export function patchDomain(id: number, etag: string, body: DomainRequest): Promise<Domain> {
  return call(api.PATCH("/api/v1/domains/{id}", { params: { path: { id }, header: { "If-Match": etag } }, body }));
}

export function deleteDomain(id: number) {
  return call(api.DELETE("/api/v1/domains/{id}", { params: { path: { id } } }));
}

export function bulkDomains(body: { ids: number[]; action: BulkAction; group_id?: number }): Promise<{ affected: number }> {
  return call(api.POST("/api/v1/domains/bulk", { body }));
}

/** Every server (id and name), for the binding select and the server filter. */
export async function allServers(): Promise<{ id: number; name: string }[]> {
  const out: { id: number; name: string }[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 50; i++) {
    const page = await call(api.GET("/api/v1/servers", { params: { query: { limit: 200, cursor } } }));
    out.push(...page.items.map((s) => ({ id: s.id, name: s.name })));
    if (!page.next) break;
    cursor = page.next;
  }
  return out;
}
