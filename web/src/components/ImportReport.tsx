// The line-by-line report of a domain import (dry run or applied).
import type { ImportAction, ImportReport } from "../api/domainTypes";
import { Badge } from "./Badge";

const ACTION: Record<ImportAction, { label: string; tone: "success" | "info" | "neutral" | "danger" }> = {
  create: { label: "create", tone: "success" },
  update: { label: "update", tone: "info" },
  unchanged: { label: "unchanged", tone: "neutral" },
  reject: { label: "rejected", tone: "danger" },
};

/** One sentence for the report: what would happen (dry run) or what happened. */
export function importSummary(r: ImportReport): string {
  const parts = [`${r.created} to create`, `${r.updated} to update`, `${r.unchanged} unchanged`, `${r.rejected} rejected`];
  if (!r.dry_run) return `Imported: ${r.created} created, ${r.updated} updated, ${r.unchanged} unchanged, ${r.rejected} rejected.`;
  const valid = r.created + r.updated;
  const tail =
    r.rejected > 0
      ? valid > 0
        ? ` Applying changes only the ${valid} valid line${valid === 1 ? "" : "s"}; rejected lines are skipped.`
        : " Nothing valid to apply: fix the rejected lines first."
      : valid > 0
        ? ""
        : " Nothing to change.";
  return `Dry run: ${parts.join(", ")}.${tail}`;
}

export function ImportReportView({ report }: { report: ImportReport }) {
  return (
    <section aria-label={report.dry_run ? "Dry-run report" : "Import report"} data-testid="import-report">
      <p className={report.rejected > 0 ? "notice notice-warning" : "notice notice-info"} data-testid="import-summary">
        {importSummary(report)}
      </p>
      <div className="table-wrap import-lines">
        <table className="table">
          <caption className="sr-only">{report.dry_run ? "Dry-run report by line" : "Import report by line"}</caption>
          <thead>
            <tr>
              <th scope="col">Line</th>
              <th scope="col">Domain</th>
              <th scope="col">Action</th>
              <th scope="col">Problems</th>
            </tr>
          </thead>
          <tbody>
            {report.lines.map((l) => (
              <tr key={l.line} className={l.action === "reject" ? "import-row-reject" : undefined} data-action={l.action}>
                <td className="mono">{l.line}</td>
                <td className="mono">{l.name ?? <span className="muted">—</span>}</td>
                <td>
                  <Badge tone={ACTION[l.action].tone}>{ACTION[l.action].label}</Badge>
                </td>
                <td>
                  {l.errors.length ? (
                    <ul className="plain-list">
                      {l.errors.map((e, i) => (
                        <li key={i}>
                          <span className="mono">{e.field}</span>: {e.message}
                        </li>
                      ))}
                    </ul>
                  ) : (
                    <span className="muted">—</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
