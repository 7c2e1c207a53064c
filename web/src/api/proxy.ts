// Calls of the reverse-proxy API (tag `proxy`): each server's proxy state,
// install/apply/rollback/uninstall jobs, plans, generations, drift, fleet
// rollouts, and a domain's live state. Types are the generated schemas.
import { api, call, type Job, type Page, type Schemas } from "./client";

export type ProxyState = Schemas["ProxyState"];
export type ProxyStatus = Schemas["ProxyStatus"];
export type InstallInfo = Schemas["InstallInfo"];
export type Plan = Schemas["Plan"];
export type DomainChanges = Schemas["DomainChanges"];
export type DomainRef = Schemas["DomainRef"];
export type GenerationSummary = Schemas["GenerationSummary"];
export type GenerationDetail = Schemas["GenerationDetail"];
export type GenerationStatus = Schemas["GenerationStatus"];
export type Trigger = Schemas["Trigger"];
export type Timings = Schemas["Timings"];
export type DriftReport = Schemas["DriftReport"];
export type DriftedFile = Schemas["DriftedFile"];
export type Rollout = Schemas["Rollout"];
export type RolloutStatus = Schemas["RolloutStatus"];
export type RolloutTarget = Schemas["RolloutTarget"];
export type TargetStatus = Schemas["TargetStatus"];
export type RolloutRequest = Schemas["RolloutBody"];
export type DomainLiveState = Schemas["DomainLiveState"];

/** Payload of `proxy.status_changed`. */
export interface ProxyStatusChange {
  server_id: number;
  from: ProxyStatus;
  to: ProxyStatus;
  message?: string | null;
}

/** Payload of `proxy.applied`. */
export interface ProxyApplied {
  server_id: number;
  generation_id: number;
  number: number;
  result: GenerationStatus;
  hash: string;
  trigger: Trigger;
  error?: string | null;
}

/** Payload of `proxy.drift_detected`. */
export interface ProxyDriftDetected {
  server_id: number;
  paths: string[];
  repairing: boolean;
}

/** Payload of `proxy.rollout_updated`. */
export interface RolloutUpdated {
  rollout_id: number;
  status: RolloutStatus;
  server_id?: number | null;
  target_status?: TargetStatus | null;
}

export function proxyStates(): Promise<ProxyState[]> {
  return call(api.GET("/api/v1/proxy/servers"));
}

export function proxyState(serverId: number): Promise<ProxyState> {
  return call(api.GET("/api/v1/servers/{id}/proxy", { params: { path: { id: serverId } } }));
}

export function installProxy(serverId: number): Promise<Job> {
  return call(api.POST("/api/v1/servers/{id}/proxy/install", { params: { path: { id: serverId } } }));
}

export function proxyPlan(serverId: number): Promise<Plan> {
  return call(api.GET("/api/v1/servers/{id}/proxy/plan", { params: { path: { id: serverId } } }));
}

export function applyProxy(serverId: number, body: { reason?: string | null; force?: boolean }): Promise<Job> {
  return call(api.POST("/api/v1/servers/{id}/proxy/apply", { params: { path: { id: serverId } }, body }));
}

export function listGenerations(serverId: number, cursor?: string, limit = 25): Promise<Page<GenerationSummary>> {
  return call(api.GET("/api/v1/servers/{id}/proxy/generations", { params: { path: { id: serverId }, query: { cursor, limit } } }));
}

export function getGeneration(serverId: number, number: number): Promise<GenerationDetail> {
  return call(api.GET("/api/v1/servers/{id}/proxy/generations/{number}", { params: { path: { id: serverId, number } } }));
}

export function rollbackTo(serverId: number, number: number, reason: string | null): Promise<Job> {
  return call(api.POST("/api/v1/servers/{id}/proxy/generations/{number}/rollback", { params: { path: { id: serverId, number } }, body: { reason } }));
}

export function checkDrift(serverId: number): Promise<DriftReport> {
  return call(api.POST("/api/v1/servers/{id}/proxy/drift/check", { params: { path: { id: serverId } } }));
}

export function uninstallProxy(serverId: number, removePackage: boolean): Promise<Job> {
  return call(api.POST("/api/v1/servers/{id}/proxy/uninstall", { params: { path: { id: serverId } }, body: { remove_package: removePackage } }));
}

export function listRollouts(cursor?: string, limit = 25): Promise<Page<Rollout>> {
  return call(api.GET("/api/v1/proxy/rollouts", { params: { query: { cursor, limit } } }));
}

export function createRollout(body: RolloutRequest): Promise<Rollout> {
  return call(api.POST("/api/v1/proxy/rollouts", { body }));
}

export function getRollout(id: number): Promise<Rollout> {
  return call(api.GET("/api/v1/proxy/rollouts/{id}", { params: { path: { id } } }));
}

export function domainLiveState(domainId: number): Promise<DomainLiveState> {
  return call(api.GET("/api/v1/domains/{id}/proxy", { params: { path: { id: domainId } } }));
}

/** Whether a proxy has been installed (install info is kept until an uninstall). */
export function isInstalled(s: ProxyState | null | undefined): boolean {
  return s != null && s.install != null && s.status !== "not_installed";
}

/** Generations an operator may roll back to: ones that served, other than the live one. */
export function canRollBackTo(g: { status: GenerationStatus; number: number }, liveNumber: number | null | undefined): boolean {
  return (g.status === "live" || g.status === "superseded") && g.number !== liveNumber;
}

/** The first characters of a content hash, as shown next to generation numbers. */
export function shortHash(hash: string | null | undefined): string {
  return hash ? hash.slice(0, 12) : "—";
}
