import { lazy, Suspense } from "react";
import { BrowserRouter, Navigate, Route, Routes, useLocation } from "react-router";
import { hasRole, type Role } from "./api/client";
import { EventsProvider } from "./api/events";
import { AuthProvider, useAuth } from "./auth/AuthContext";
import { Layout } from "./components/Layout";
import { ErrorState, Loading } from "./components/States";
import { ToastProvider } from "./components/Toasts";
import { UNAVAILABLE_MODULES } from "./modules";
import { AccountPage } from "./pages/AccountPage";
import { AuditPage } from "./pages/AuditPage";
import { CertificatesPage } from "./pages/CertificatesPage";
import { DashboardPage } from "./pages/DashboardPage";
import { DomainFormPage } from "./pages/DomainFormPage";
import { DomainGroupPage } from "./pages/DomainGroupPage";
import { DomainsPage } from "./pages/DomainsPage";
import { EventsPage } from "./pages/EventsPage";
import { GenerationPage } from "./pages/GenerationPage";
import { ForbiddenPage, NotFoundPage } from "./pages/ErrorPages";
import { JobsPage } from "./pages/JobsPage";
import { LoginPage } from "./pages/LoginPage";
import { NotAvailablePage } from "./pages/NotAvailablePage";
import { ProxyPage } from "./pages/ProxyPage";
import { RolloutPage } from "./pages/RolloutPage";
import { ServerDetailPage } from "./pages/ServerDetailPage";
import { ServerFormPage } from "./pages/ServerFormPage";
import { ServersPage } from "./pages/ServersPage";
import { UsersPage } from "./pages/UsersPage";

// The Proxmox module is its own chunk, loaded when it is opened.
const ProxmoxSection = lazy(() => import("./pages/proxmox/ProxmoxSection"));
// So is the Tasks page (it brings the Markdown renderer).
const TasksPage = lazy(() => import("./pages/TasksPage"));
// And the Traffic page (it brings the chart library).
const TrafficPage = lazy(() => import("./pages/TrafficPage"));

export function App() {
  return (
    <BrowserRouter>
      <ToastProvider>
        <AuthProvider>
          <Root />
        </AuthProvider>
      </ToastProvider>
    </BrowserRouter>
  );
}

function Root() {
  const { state, refresh } = useAuth();
  return (
    <EventsProvider enabled={state.status === "authenticated"}>
      {state.status === "loading" ? (
        <div className="center-page">
          <Loading label="Starting Gantry…" />
        </div>
      ) : state.status === "error" ? (
        <div className="center-page">
          <ErrorState error={state.error} onRetry={() => void refresh()} title="Gantry did not answer" />
        </div>
      ) : (
        <Routes>
          <Route path="/login" element={<LoginRoute />} />
          <Route element={<RequireAuth />}>
            <Route index element={<DashboardPage />} />
            <Route path="jobs" element={<JobsPage />} />
            <Route path="account" element={<AccountPage />} />
            <Route path="servers" element={<ServersPage />} />
            <Route path="servers/new" element={<RequireRole role="operator"><ServerFormPage /></RequireRole>} />
            <Route path="servers/:id" element={<ServerDetailPage />} />
            <Route path="servers/:id/edit" element={<RequireRole role="operator"><ServerFormPage /></RequireRole>} />
            <Route path="servers/:id/proxy/generations/:number" element={<GenerationPage />} />
            <Route path="proxy" element={<ProxyPage />} />
            <Route path="proxy/rollouts/:id" element={<RolloutPage />} />
            <Route path="domains" element={<DomainsPage />} />
            <Route path="domains/groups/:id" element={<DomainGroupPage />} />
            <Route path="domains/new" element={<RequireRole role="operator"><DomainFormPage /></RequireRole>} />
            <Route path="domains/:id/edit" element={<RequireRole role="operator"><DomainFormPage /></RequireRole>} />
            <Route path="certificates" element={<CertificatesPage />} />
            <Route path="proxmox/*" element={<Suspense fallback={<Loading />}><ProxmoxSection /></Suspense>} />
            <Route path="tasks" element={<Suspense fallback={<Loading />}><TasksPage /></Suspense>} />
            <Route path="monitoring" element={<Navigate to="/monitoring/events" replace />} />
            <Route path="monitoring/events" element={<EventsPage />} />
            <Route path="monitoring/traffic" element={<Suspense fallback={<Loading />}><TrafficPage /></Suspense>} />
            <Route path="users" element={<RequireRole role="admin"><UsersPage /></RequireRole>} />
            <Route path="audit" element={<RequireRole role="admin"><AuditPage /></RequireRole>} />
            {UNAVAILABLE_MODULES.map((m) => (
              <Route key={m.path} path={m.path.slice(1)} element={<NotAvailablePage module={m} />} />
            ))}
            <Route path="*" element={<NotFoundPage />} />
          </Route>
        </Routes>
      )}
    </EventsProvider>
  );
}

function LoginRoute() {
  const { state } = useAuth();
  const location = useLocation();
  if (state.status === "authenticated") {
    const from = (location.state as { from?: string } | null)?.from;
    return <Navigate to={from && from !== "/login" ? from : "/"} replace />;
  }
  return <LoginPage expired={state.status === "anonymous" && state.reason === "expired"} />;
}

function RequireAuth() {
  const { state } = useAuth();
  const location = useLocation();
  if (state.status !== "authenticated") {
    // After an explicit sign-out the next person starts at the dashboard;
    // otherwise (first visit, expired session) come back here after login.
    const from = state.status === "anonymous" && state.reason === "logout" ? undefined : location.pathname + location.search;
    return <Navigate to="/login" replace state={from ? { from } : null} />;
  }
  return <Layout />;
}

function RequireRole({ role, children }: { role: Role; children: React.ReactNode }) {
  const { me } = useAuth();
  if (!hasRole(me?.role, role)) return <ForbiddenPage role={role} />;
  return <>{children}</>;
}
