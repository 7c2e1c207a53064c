import { Link } from "react-router";
import type { Role } from "../api/client";
import { PageHeader } from "../components/Layout";
import { EmptyState } from "../components/States";

export function ForbiddenPage({ role }: { role: Role }) {
  return (
    <>
      <PageHeader title="Access denied" />
      <div className="card">
        <EmptyState title="You don't have access to this page" icon="⛔" action={<Link className="btn btn-secondary" to="/">Go to the dashboard</Link>}>
          <p>
            This page needs the <strong>{role}</strong> role (403). Ask an administrator if you need it.
          </p>
        </EmptyState>
      </div>
    </>
  );
}

export function NotFoundPage() {
  return (
    <>
      <PageHeader title="Page not found" />
      <div className="card">
        <EmptyState title="There is no page at this address" icon="?" action={<Link className="btn btn-secondary" to="/">Go to the dashboard</Link>}>
          <p>Check the address, or use the navigation on the left.</p>
        </EmptyState>
      </div>
    </>
  );
}
