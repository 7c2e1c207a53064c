// The Proxmox module (/proxmox): one page header and a tab bar over its
// sub-pages (clusters, templates, blueprints, the deploy wizard, deployments).
// The tabs are links (each sub-page has its own URL); the deploy wizard is
// for operators, so viewers do not get its tab.
import { NavLink, Outlet } from "react-router";
import { hasRole } from "../../api/client";
import { useMe } from "../../auth/AuthContext";
import { PageHeader } from "../../components/Layout";

const TABS = [
  { to: "/proxmox/clusters", label: "Clusters", operator: false },
  { to: "/proxmox/templates", label: "Templates", operator: false },
  { to: "/proxmox/blueprints", label: "Blueprints", operator: false },
  { to: "/proxmox/deploy", label: "Deploy", operator: true },
  { to: "/proxmox/deployments", label: "Deployments", operator: false },
];

export function ProxmoxLayout() {
  const me = useMe();
  const operator = hasRole(me.role, "operator");
  return (
    <>
      <PageHeader title="Proxmox" description="Proxmox VE clusters, stand blueprints, and the stands Gantry deploys for each user." />
      <nav className="tabs" aria-label="Proxmox sections">
        {TABS.filter((t) => operator || !t.operator).map((t) => (
          <NavLink key={t.to} to={t.to} className={({ isActive }) => `tab${isActive ? " tab-active" : ""}`}>
            {t.label}
          </NavLink>
        ))}
      </nav>
      <Outlet />
    </>
  );
}
