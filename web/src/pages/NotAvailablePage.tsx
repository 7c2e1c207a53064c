import { Link } from "react-router";
import { PageHeader } from "../components/Layout";
import { EmptyState } from "../components/States";
import type { NavItem } from "../modules";

/** Honest placeholder for a module the backend does not have yet: no fake data. */
export function NotAvailablePage({ module }: { module: NavItem }) {
  return (
    <>
      <PageHeader title={module.label} description={module.summary} />
      <div className="card">
        <EmptyState
          title={`${module.label} is not available yet in this version`}
          icon={module.icon}
          action={
            <Link className="btn btn-secondary" to="/">
              Back to the dashboard
            </Link>
          }
        >
          <p>
            This version of Gantry does not include the {module.label.toLowerCase()} module yet, so there is nothing to show or manage
            here. It will appear in this place when the module ships; nothing on this page is simulated.
          </p>
        </EmptyState>
      </div>
    </>
  );
}
