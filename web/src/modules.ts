// The navigation. Each entry is a module of Gantry. `available: false` means
// the backend does not have it yet; its page shows an honest empty state.
// When a module lands, set `available: true` and route its page in App.tsx.
import type { Role } from "./api/client";

export interface NavItem {
  path: string;
  label: string;
  icon: string;
  /** Lowest role that sees the link (and may open the page). */
  minRole: Role;
  available: boolean;
  /** One line for the empty state of a module that is not built yet. */
  summary?: string;
}

export interface NavSection {
  title: string;
  items: NavItem[];
}

export const NAV: NavSection[] = [
  {
    title: "Overview",
    items: [{ path: "/", label: "Dashboard", icon: "◧", minRole: "viewer", available: true }],
  },
  {
    title: "Infrastructure",
    items: [
      { path: "/servers", label: "Servers", icon: "▤", minRole: "viewer", available: true, summary: "Register servers, reach them over SSH and see their state." },
      { path: "/domains", label: "Domains", icon: "◎", minRole: "viewer", available: true, summary: "Manage domains and the reverse-proxy routes that serve them." },
      { path: "/proxy", label: "Proxy", icon: "⇄", minRole: "viewer", available: true, summary: "The nginx reverse proxy on each server: generations, drift and fleet rollouts." },
      { path: "/certificates", label: "Certificates", icon: "◈", minRole: "viewer", available: true, summary: "Issue and renew TLS certificates and watch their expiry." },
      { path: "/proxmox", label: "Proxmox", icon: "▦", minRole: "viewer", available: true, summary: "Proxmox VE clusters, stand blueprints, and per-user stands deployed from them." },
      { path: "/tasks", label: "Tasks", icon: "☰", minRole: "viewer", available: true, summary: "The team's task tracker: what needs doing on the infrastructure, who does it and by when." },
    ],
  },
  {
    title: "Monitoring",
    items: [
      { path: "/monitoring/events", label: "Events", icon: "∿", minRole: "viewer", available: true, summary: "What happened in the fleet: servers down, applies, renewals, deployments, sign-ins." },
      { path: "/monitoring/traffic", label: "Traffic", icon: "▁", minRole: "viewer", available: true, summary: "Requests, errors and latency through the reverse proxies." },
    ],
  },
  {
    title: "System",
    items: [
      { path: "/jobs", label: "Jobs", icon: "⟳", minRole: "viewer", available: true },
      { path: "/audit", label: "Audit", icon: "⌕", minRole: "admin", available: true },
      { path: "/users", label: "Users", icon: "☺", minRole: "admin", available: true },
    ],
  },
];

export const UNAVAILABLE_MODULES: NavItem[] = NAV.flatMap((s) => s.items).filter((i) => !i.available);
