// The domains a plan or a generation adds, changes and removes.
import { Link } from "react-router";
import type { DomainChanges, DomainRef } from "../api/proxy";

const KINDS: { key: keyof DomainChanges; label: string; sign: string; className: string }[] = [
  { key: "added", label: "Added", sign: "+", className: "dc-added" },
  { key: "changed", label: "Changed", sign: "~", className: "dc-changed" },
  { key: "removed", label: "Removed", sign: "−", className: "dc-removed" },
];

export function changeCount(c: DomainChanges): number {
  return c.added.length + c.changed.length + c.removed.length;
}

/** Short summary, e.g. "2 added, 1 changed". */
export function changeSummary(c: { added: number; changed: number; removed: number }): string {
  const parts = [c.added ? `${c.added} added` : "", c.changed ? `${c.changed} changed` : "", c.removed ? `${c.removed} removed` : ""].filter(Boolean);
  return parts.length ? parts.join(", ") : "no domain changes";
}

/** Domains link to their group (a removed domain may no longer exist, its group usually does). */
function DomainLink({ d }: { d: DomainRef }) {
  return (
    <Link to={`/domains/groups/${d.group_id}`} className="mono" title="Open the domain's group">
      {d.name}
    </Link>
  );
}

export function DomainChangesList({ changes, empty = "No domain changes." }: { changes: DomainChanges; empty?: string }) {
  if (changeCount(changes) === 0) return <p className="muted">{empty}</p>;
  return (
    <div className="domain-changes">
      {KINDS.map((k) =>
        changes[k.key].length > 0 ? (
          <div key={k.key} className={`dc-group ${k.className}`}>
            <p className="dc-title">
              <span aria-hidden="true" className="dc-sign">
                {k.sign}
              </span>{" "}
              {k.label} ({changes[k.key].length})
            </p>
            <ul className="chip-list chip-list-tight" aria-label={`${k.label} domains`}>
              {changes[k.key].map((d) => (
                <li key={d.id} className="chip dc-chip">
                  <DomainLink d={d} />
                </li>
              ))}
            </ul>
          </div>
        ) : null,
      )}
    </div>
  );
}
