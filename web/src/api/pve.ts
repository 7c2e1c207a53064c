// Calls of the Proxmox VE API (tag `pve`): clusters (test, templates,
// orphans), blueprints (YAML import/export), plans, deployments (retry,
// cleanup, one-time passwords). Types are the generated schemas. A cluster's
// secret goes up and never comes back.
import { api, call, type Job, type Schemas } from "./client";

export type PveCluster = Schemas["Cluster"];
export type ClusterInput = Schemas["ClusterInput"];
export type TestReport = Schemas["TestReport"];
export type TemplateInfo = Schemas["TemplateInfo"];
export type Orphan = Schemas["Orphan"];
export type OrphanResult = Schemas["OrphanResult"];
export type Blueprint = Schemas["Blueprint"];
export type VmSpec = Schemas["VmSpec"];
export type StoredBlueprint = Schemas["StoredBlueprint"];
export type Strategy = Schemas["Strategy"];
export type CloneMode = Schemas["CloneMode"];
export type StandRequest = Schemas["StandRequest"];
export type PlannedStand = Schemas["PlannedStand"];
export type PlannedVm = Schemas["PlannedVm"];
export type NodeScore = Schemas["NodeScore"];
export type NodeNetwork = Schemas["NodeNetwork"];
export type DeploymentView = Schemas["DeploymentView"];
export type StandView = Schemas["StandView"];
export type VmView = Schemas["VmView"];
export type Credential = Schemas["Credential"];
export type CleanupRequest = Schemas["CleanupRequest"];

/**
 * The plan of `POST /pve/stands/plan` (`gantry_pve::plan::Plan`). The OpenAPI
 * document currently names it `Plan`, like the proxy's plan, so the generated
 * `Schemas["Plan"]` is the proxy's; this is the pve shape, built from the
 * generated parts.
 */
export interface PvePlan {
  strategy: Strategy;
  stands: PlannedStand[];
  network: NodeNetwork[];
  warnings: string[];
  errors: string[];
  per_node: Record<string, number>;
}

/** `POST /pve/stands/deploy`'s answer, with the pve plan. */
export interface Deployed {
  deployment: DeploymentView;
  plan: PvePlan;
  job: Job;
}

export const STRATEGIES: Strategy[] = ["balanced", "pack", "spread", "same-node"];

// ---- clusters ----

export function listClusters(): Promise<PveCluster[]> {
  return call(api.GET("/api/v1/pve/clusters"));
}

export function createCluster(body: ClusterInput): Promise<PveCluster> {
  return call(api.POST("/api/v1/pve/clusters", { body }));
}

export function updateCluster(id: number, body: ClusterInput): Promise<PveCluster> {
  return call(api.PUT("/api/v1/pve/clusters/{id}", { params: { path: { id } }, body }));
}

export function deleteCluster(id: number): Promise<void> {
  return call(api.DELETE("/api/v1/pve/clusters/{id}", { params: { path: { id } } })) as Promise<void>;
}

export function testCluster(id: number): Promise<TestReport> {
  return call(api.POST("/api/v1/pve/clusters/{id}/test", { params: { path: { id } } }));
}

export function listTemplates(id: number): Promise<TemplateInfo[]> {
  return call(api.GET("/api/v1/pve/clusters/{id}/templates", { params: { path: { id } } }));
}

export function listOrphans(id: number): Promise<Orphan[]> {
  return call(api.GET("/api/v1/pve/clusters/{id}/orphans", { params: { path: { id } } }));
}

export function removeOrphans(id: number, vmids: number[]): Promise<OrphanResult[]> {
  return call(api.POST("/api/v1/pve/clusters/{id}/orphans/remove", { params: { path: { id } }, body: { vmids } }));
}

// ---- blueprints ----

export function listBlueprints(): Promise<StoredBlueprint[]> {
  return call(api.GET("/api/v1/pve/blueprints"));
}

export function createBlueprint(body: Blueprint): Promise<StoredBlueprint> {
  return call(api.POST("/api/v1/pve/blueprints", { body }));
}

export function updateBlueprint(id: number, body: Blueprint): Promise<StoredBlueprint> {
  return call(api.PUT("/api/v1/pve/blueprints/{id}", { params: { path: { id } }, body }));
}

export function deleteBlueprint(id: number): Promise<void> {
  return call(api.DELETE("/api/v1/pve/blueprints/{id}", { params: { path: { id } } })) as Promise<void>;
}

export function importBlueprint(yaml: string, replace: boolean): Promise<StoredBlueprint> {
  return call(api.POST("/api/v1/pve/blueprints/import", { body: { yaml, replace } }));
}

/** Where the browser downloads a blueprint as YAML (the answer is an attachment). */
export function blueprintExportUrl(id: number): string {
  return `/api/v1/pve/blueprints/${id}/export`;
}

// ---- plans and deployments ----

export function planStands(body: StandRequest): Promise<PvePlan> {
  return call(api.POST("/api/v1/pve/stands/plan", { body })) as unknown as Promise<PvePlan>;
}

export function deployStands(body: StandRequest): Promise<Deployed> {
  return call(api.POST("/api/v1/pve/stands/deploy", { body })) as unknown as Promise<Deployed>;
}

export function listDeployments(): Promise<DeploymentView[]> {
  return call(api.GET("/api/v1/pve/deployments"));
}

export function getDeployment(id: number): Promise<DeploymentView> {
  return call(api.GET("/api/v1/pve/deployments/{id}", { params: { path: { id } } }));
}

export function retryDeployment(id: number): Promise<Job> {
  return call(api.POST("/api/v1/pve/deployments/{id}/retry", { params: { path: { id } } }));
}

export function cleanupDeployment(id: number, body: CleanupRequest): Promise<Job> {
  return call(api.POST("/api/v1/pve/deployments/{id}/cleanup", { params: { path: { id } }, body }));
}

/** The generated passwords of new users: the API returns them once, then forgets them. */
export function takeCredentials(id: number): Promise<Credential[]> {
  return call(api.POST("/api/v1/pve/deployments/{id}/credentials", { params: { path: { id } } }));
}
