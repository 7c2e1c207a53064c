import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import { DataTable, type Column } from "./DataTable";

type Row = { id: number; name: string };
const columns: Column<Row>[] = [
  { key: "id", header: "Id", render: (r) => r.id },
  { key: "name", header: "Name", sortable: true, render: (r) => r.name },
];
const rows = [
  { id: 1, name: "alpha" },
  { id: 2, name: "beta" },
];

function pagination(overrides = {}) {
  return { page: 2, hasPrev: true, hasNext: false, onPrev: vi.fn(), onNext: vi.fn(), pageSize: 25, onPageSizeChange: vi.fn(), ...overrides };
}

describe("DataTable", () => {
  it("renders rows with an accessible name", () => {
    render(<DataTable label="Things" columns={columns} rows={rows} rowKey={(r) => r.id} />);
    const table = screen.getByRole("table", { name: "Things" });
    expect(within(table).getAllByRole("row")).toHaveLength(3);
    expect(within(table).getByText("beta")).toBeInTheDocument();
  });

  it("shows loading, empty and error states", async () => {
    const { rerender } = render(<DataTable label="T" columns={columns} rows={undefined} rowKey={(r) => r.id} />);
    expect(screen.getByRole("status")).toHaveTextContent("Loading");
    rerender(<DataTable label="T" columns={columns} rows={[]} rowKey={(r) => r.id} empty={<p>No things match</p>} />);
    expect(screen.getByText("No things match")).toBeInTheDocument();
    const retry = vi.fn();
    rerender(
      <DataTable label="T" columns={columns} rows={rows} rowKey={(r) => r.id} error={new ApiError({ status: 500, code: "internal", detail: "boom", requestId: "r1" })} onRetry={retry} />,
    );
    expect(screen.getByRole("alert")).toHaveTextContent("boom");
    expect(screen.getByText("r1")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Retry" }));
    expect(retry).toHaveBeenCalled();
  });

  it("drives server-side pagination", async () => {
    const p = pagination();
    render(<DataTable label="T" columns={columns} rows={rows} rowKey={(r) => r.id} pagination={p} />);
    expect(screen.getByText(/Page 2/)).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Next ›" })).toBeDisabled();
    await userEvent.click(screen.getByRole("button", { name: "‹ Previous" }));
    expect(p.onPrev).toHaveBeenCalledTimes(1);
    await userEvent.selectOptions(screen.getByLabelText("Rows per page"), "100");
    expect(p.onPageSizeChange).toHaveBeenCalledWith(100);
  });

  it("asks the server to sort and marks the sorted column", async () => {
    const onSort = vi.fn();
    const { rerender } = render(<DataTable label="T" columns={columns} rows={rows} rowKey={(r) => r.id} sort={null} onSortChange={onSort} />);
    const header = screen.getByRole("columnheader", { name: /Name/ });
    expect(header).toHaveAttribute("aria-sort", "none");
    await userEvent.click(within(header).getByRole("button"));
    expect(onSort).toHaveBeenLastCalledWith({ key: "name", dir: "asc" });
    rerender(<DataTable label="T" columns={columns} rows={rows} rowKey={(r) => r.id} sort={{ key: "name", dir: "asc" }} onSortChange={onSort} />);
    expect(screen.getByRole("columnheader", { name: /Name/ })).toHaveAttribute("aria-sort", "ascending");
    await userEvent.click(within(screen.getByRole("columnheader", { name: /Name/ })).getByRole("button"));
    expect(onSort).toHaveBeenLastCalledWith({ key: "name", dir: "desc" });
  });

  it("expands a row's details with an accessible toggle", async () => {
    render(<DataTable label="T" columns={columns} rows={rows} rowKey={(r) => r.id} renderExpanded={(r) => <p>details of {r.name}</p>} expandLabel={(r) => `Details of ${r.name}`} />);
    const toggle = screen.getByRole("button", { name: "Details of alpha" });
    expect(toggle).toHaveAttribute("aria-expanded", "false");
    await userEvent.click(toggle);
    expect(toggle).toHaveAttribute("aria-expanded", "true");
    expect(screen.getByText("details of alpha")).toBeInTheDocument();
    expect(screen.queryByText("details of beta")).not.toBeInTheDocument();
  });
});
