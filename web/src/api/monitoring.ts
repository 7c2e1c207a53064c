// Calls of the monitoring API (tag `monitoring`, and the log level under
// `system`): the event log, the dashboard's health summary, the runtime log
// level, and proxy traffic statistics. Types are the generated schemas.
import { api, call, type Page, type Schemas } from "./client";

export type EventLogEntry = Schemas["EventLogEntry"];
export type Severity = Schemas["Severity"];
export type HealthSummary = Schemas["Summary"];
export type HealthTile = Schemas["Tile"];
export type LogLevel = Schemas["LogLevel"];

/** The query of `GET /api/v1/monitoring/events` (all optional). */
export interface EventQuery {
  module?: string;
  severity?: Severity;
  kind?: string;
  entity_type?: string;
  entity_id?: string;
  job_id?: number;
  q?: string;
  since?: string;
  until?: string;
  cursor?: string;
  limit?: number;
}

export function listEvents(query: EventQuery): Promise<Page<EventLogEntry>> {
  return call(api.GET("/api/v1/monitoring/events", { params: { query } }));
}

export function healthSummary(): Promise<HealthSummary> {
  return call(api.GET("/api/v1/monitoring/summary"));
}

export function getLogLevel(): Promise<LogLevel> {
  return call(api.GET("/api/v1/system/log-level"));
}

export function setLogLevel(level: string): Promise<LogLevel> {
  return call(api.PUT("/api/v1/system/log-level", { body: { level } as LogLevel }));
}

// --- traffic statistics -------------------------------------------------------
export type TrafficView = Schemas["TrafficView"];
export type TrafficPoint = Schemas["TrafficPoint"];
export type TrafficCounts = Schemas["TrafficCounts"];
export type DomainTraffic = Schemas["DomainTraffic"];
export type ServerTraffic = Schemas["ServerTraffic"];
export type CollectResult = Schemas["CollectResult"];

/** The query of `GET /api/v1/monitoring/traffic`. */
export interface TrafficQuery {
  server_id?: number;
  domain?: string;
  from?: string;
  to?: string;
}

export function getTraffic(query: TrafficQuery): Promise<TrafficView> {
  return call(api.GET("/api/v1/monitoring/traffic", { params: { query } }));
}

export function trafficServers(): Promise<ServerTraffic[]> {
  return call(api.GET("/api/v1/monitoring/traffic/servers"));
}

export async function collectTraffic(serverId?: number): Promise<CollectResult[]> {
  const r = await call(api.POST("/api/v1/monitoring/traffic/collect", { body: serverId != null ? { server_id: serverId } : {} }));
  return r.results;
}
