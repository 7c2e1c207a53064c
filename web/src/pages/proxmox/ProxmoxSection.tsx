// The Proxmox module's routes under /proxmox/*. App.tsx loads this file
// lazily (its own chunk), so the module's pages do not weigh on the panel's
// first load.
import { Navigate, Route, Routes } from "react-router";
import { hasRole } from "../../api/client";
import { useMe } from "../../auth/AuthContext";
import { ForbiddenPage, NotFoundPage } from "../ErrorPages";
import { BlueprintsPage } from "./BlueprintsPage";
import { ClustersPage } from "./ClustersPage";
import { DeploymentPage } from "./DeploymentPage";
import { DeploymentsPage } from "./DeploymentsPage";
import { DeployPage } from "./DeployPage";
import { ProxmoxLayout } from "./ProxmoxLayout";
import { TemplatesPage } from "./TemplatesPage";

function OperatorOnly({ children }: { children: React.ReactNode }) {
  const me = useMe();
  return hasRole(me.role, "operator") ? <>{children}</> : <ForbiddenPage role="operator" />;
}

export default function ProxmoxSection() {
  return (
    <Routes>
      <Route element={<ProxmoxLayout />}>
        <Route index element={<Navigate to="clusters" replace />} />
        <Route path="clusters" element={<ClustersPage />} />
        <Route path="templates" element={<TemplatesPage />} />
        <Route path="blueprints" element={<BlueprintsPage />} />
        <Route
          path="deploy"
          element={
            <OperatorOnly>
              <DeployPage />
            </OperatorOnly>
          }
        />
        <Route path="deployments" element={<DeploymentsPage />} />
        <Route path="deployments/:id" element={<DeploymentPage />} />
      </Route>
      <Route path="*" element={<NotFoundPage />} />
    </Routes>
  );
}
