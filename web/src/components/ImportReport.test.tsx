import { render, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { ImportReport } from "../api/domainTypes";
import { formatFromFileName } from "./ImportDialog";
import { ImportReportView, importSummary } from "./ImportReport";

const report: ImportReport = {
  dry_run: true,
  created: 1,
  updated: 1,
  unchanged: 1,
  rejected: 1,
  lines: [
    { line: 1, name: "shop.example.com", action: "create", errors: [] },
    { line: 6, name: "api.example.com", action: "update", errors: [] },
    { line: 8, name: "old.example.com", action: "unchanged", errors: [] },
    { line: 10, name: "bad.example.com", action: "reject", errors: [{ field: "target_ip", message: "not an IP address" }] },
  ],
};

describe("import report", () => {
  it("says what a dry run would do and that only valid lines are applied", () => {
    expect(importSummary(report)).toBe(
      "Dry run: 1 to create, 1 to update, 1 unchanged, 1 rejected. Applying changes only the 2 valid lines; rejected lines are skipped.",
    );
    expect(importSummary({ ...report, created: 0, updated: 0 })).toMatch(/Nothing valid to apply/);
    expect(importSummary({ ...report, dry_run: false })).toBe("Imported: 1 created, 1 updated, 1 unchanged, 1 rejected.");
  });

  it("renders one row per line with its action and errors", () => {
    render(<ImportReportView report={report} />);
    const table = screen.getByRole("table", { name: "Dry-run report by line" });
    const rows = within(table).getAllByRole("row");
    expect(rows).toHaveLength(5);
    const rejected = rows[4]!;
    expect(rejected).toHaveTextContent("10");
    expect(rejected).toHaveTextContent("bad.example.com");
    expect(rejected).toHaveTextContent("rejected");
    expect(rejected).toHaveTextContent("target_ip: not an IP address");
    expect(rows[1]).toHaveTextContent("create");
    expect(screen.getByTestId("import-summary")).toHaveClass("notice-warning");
  });

  it("guesses the format from the file name", () => {
    expect(formatFromFileName("domains.YML")).toBe("yaml");
    expect(formatFromFileName("x.yaml")).toBe("yaml");
    expect(formatFromFileName("export.csv")).toBe("csv");
    expect(formatFromFileName("notes.txt")).toBeNull();
  });
});
