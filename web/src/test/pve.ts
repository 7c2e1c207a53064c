// Fixtures for the Proxmox pages' tests.
import type { Job } from "../api/client";
import type { DeploymentView, PlannedVm, PveCluster, PvePlan, StandView, StoredBlueprint, VmView } from "../api/pve";

export const cluster = (over: Partial<PveCluster> = {}): PveCluster => ({
  id: 1,
  name: "lab",
  endpoints: ["https://10.0.0.1:8006", "https://10.0.0.2:8006"],
  auth: "token",
  auth_id: "root@pam!gantry",
  fingerprint: "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89",
  has_ca: false,
  vmid_range: { first: 10000, last: 19999 },
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
  ...over,
});

export const blueprint = (over: Partial<StoredBlueprint> = {}): StoredBlueprint => ({
  id: 4,
  updated_at: "2026-01-01T00:00:00Z",
  spec: {
    name: "net-lab",
    description: "two VMs",
    strategy: "balanced",
    role: "PVEVMUser",
    create_users: true,
    vms: [
      { key: "router", template: "debian-12", name: "{user}-router", networks: ["hq.100", "hq.200"], clone: "linked", start: true, disks: [] },
      { key: "client", template: "9001", name: "{user}-{vm}", memory_mib: 1024, cores: 2, networks: [], clone: "full", storage: "local-lvm", start: false, disks: [{ disk: "scsi0", size_gib: 20 }] },
    ],
  },
  ...over,
});

export const plannedVm = (over: Partial<PlannedVm> = {}): PlannedVm => ({
  key: "web",
  name: "student1-web",
  node: "pve2",
  template_vmid: 9000,
  template_node: "pve1",
  clone_mode: "linked",
  storage: null,
  vmid: 10000,
  memory_mib: 1024,
  cores: 1,
  notes: [],
  scores: [
    { node: "pve1", mem_after: 0.62, cpu_after: 0.31, score: 0.55, excluded: null },
    { node: "pve2", mem_after: 0.21, cpu_after: 0.12, score: 0.18, excluded: null },
    { node: "pve3", mem_after: 0, cpu_after: 0, score: 0, excluded: "node is offline" },
  ],
  ...over,
});

export const plan = (over: Partial<PvePlan> = {}): PvePlan => ({
  strategy: "balanced",
  stands: [
    { user: "student1@pve", pool: "gantry-student1-pve", vms: [plannedVm()] },
    { user: "student2@pve", pool: "gantry-student2-pve", vms: [plannedVm({ name: "student2-web", node: "pve1", vmid: 10001, clone_mode: "full", notes: ["VM 9000 is not a template: full clone instead of linked"] })] },
  ],
  network: [{ node: "pve2", create: [], make_vlan_aware: ["hq"] }],
  warnings: ["node pve3 is offline: nothing is placed there"],
  errors: [],
  per_node: { pve1: 1, pve2: 1 },
  ...over,
});

export const vmView = (over: Partial<VmView> = {}): VmView => ({ id: 1, key: "web", name: "student1-web", node: "pve2", vmid: 10000, clone_mode: "linked", status: "cloning", error: null, ...over });

export const standView = (over: Partial<StandView> = {}): StandView => ({
  id: 1,
  user: "student1@pve",
  pool: "gantry-student1-pve",
  status: "deploying",
  error: null,
  user_created: true,
  password_pending: false,
  vms: [vmView()],
  ...over,
});

export const deployment = (over: Partial<DeploymentView> = {}): DeploymentView => ({
  id: 7,
  cluster_id: 1,
  blueprint: "net-lab",
  status: "running",
  created_by: "olga",
  job_id: 42,
  warnings: [],
  counts: { cloning: 1, planned: 1 },
  stands: [
    standView(),
    standView({ id: 2, user: "student2@pve", pool: "gantry-student2-pve", status: "pending", vms: [vmView({ id: 2, name: "student2-web", node: "pve1", vmid: 10001, status: "planned" })] }),
  ],
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
  ...over,
});

export const job = (over: Partial<Job> = {}): Job => ({
  id: 42,
  kind: "pve.deploy",
  status: "running",
  payload: {},
  attempts: 1,
  max_attempts: 1,
  progress: 40,
  message: "student1@pve / web: cloning",
  log: [],
  audience: "viewer",
  run_after: "2026-01-01T00:00:00Z",
  created_at: "2026-01-01T00:00:00Z",
  ...over,
});
