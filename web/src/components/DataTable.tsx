// A table for server-side lists: the server filters, sorts and paginates
// (keyset cursors, `{items, next}`); the table renders one page and the
// controls. Pair it with `useCursorList` (src/lib/useCursorList.ts).
import { Fragment, useId, useState, type ReactNode } from "react";
import type { CursorList } from "../lib/useCursorList";
import { EmptyState, ErrorState, Loading, Spinner } from "./States";

export type SortDir = "asc" | "desc";
export interface SortState {
  key: string;
  dir: SortDir;
}

export interface Column<T> {
  key: string;
  header: ReactNode;
  render: (row: T) => ReactNode;
  /** Header becomes a sort button; the page passes the sort to the API. */
  sortable?: boolean;
  className?: string;
}

export interface Pagination {
  /** 1-based page number in the current walk. */
  page: number;
  hasPrev: boolean;
  hasNext: boolean;
  onPrev: () => void;
  onNext: () => void;
  pageSize: number;
  onPageSizeChange?: (size: number) => void;
  pageSizes?: number[];
}

/** The pagination of a `useCursorList` list: Previous/Next and the page-size select. */
export function listPagination<T>(list: CursorList<T>, pageSizes?: number[]): Pagination {
  return {
    page: list.page,
    hasPrev: list.hasPrev,
    hasNext: list.hasNext,
    onPrev: list.prev,
    onNext: list.next,
    pageSize: list.pageSize,
    onPageSizeChange: list.setPageSize,
    pageSizes,
  };
}

export interface DataTableProps<T> {
  /** Accessible name of the table (also shown to screen readers as caption). */
  label: string;
  columns: Column<T>[];
  rows: T[] | undefined;
  rowKey: (row: T) => string | number;
  loading?: boolean;
  error?: unknown;
  onRetry?: () => void;
  /** Shown when the page is empty (say whether filters are active). */
  empty?: ReactNode;
  sort?: SortState | null;
  onSortChange?: (sort: SortState) => void;
  pagination?: Pagination;
  /** Renders a detail row under a row; adds a toggle button as first column. */
  renderExpanded?: (row: T) => ReactNode;
  /** Label for the expand toggle of one row (for screen readers). */
  expandLabel?: (row: T) => string;
  /** Called when a row is activated (click or Enter on the row). */
  onRowClick?: (row: T) => void;
  rowLabel?: (row: T) => string;
  /** Extra class of a row (e.g. `row-new` for a row that just arrived live). */
  rowClassName?: (row: T) => string | undefined;
}

export function DataTable<T>({
  label,
  columns,
  rows,
  rowKey,
  loading = false,
  error,
  onRetry,
  empty,
  sort,
  onSortChange,
  pagination,
  renderExpanded,
  expandLabel,
  onRowClick,
  rowLabel,
  rowClassName,
}: DataTableProps<T>) {
  const [expanded, setExpanded] = useState<Set<string | number>>(new Set());
  const detailPrefix = useId();
  const colCount = columns.length + (renderExpanded ? 1 : 0);

  function toggle(key: string | number) {
    setExpanded((prev) => {
      const next = new Set(prev);
      if (next.has(key)) next.delete(key);
      else next.add(key);
      return next;
    });
  }

  function sortBy(col: Column<T>) {
    if (!onSortChange) return;
    const dir: SortDir = sort?.key === col.key && sort.dir === "asc" ? "desc" : "asc";
    onSortChange({ key: col.key, dir });
  }

  let body: ReactNode;
  if (error && !loading) {
    body = (
      <tr>
        <td colSpan={colCount}>
          <ErrorState error={error} onRetry={onRetry} />
        </td>
      </tr>
    );
  } else if (!rows) {
    body = (
      <tr>
        <td colSpan={colCount}>
          <Loading />
        </td>
      </tr>
    );
  } else if (rows.length === 0) {
    body = (
      <tr>
        <td colSpan={colCount}>{empty ?? <EmptyState title="Nothing here yet" />}</td>
      </tr>
    );
  } else {
    body = rows.map((row) => {
      const key = rowKey(row);
      const isOpen = expanded.has(key);
      const detailId = `${detailPrefix}-${key}`;
      return (
        <Fragment key={key}>
          <tr
            className={[onRowClick ? "row-clickable" : "", rowClassName?.(row) ?? ""].filter(Boolean).join(" ") || undefined}
            onClick={onRowClick ? (e) => {
              if ((e.target as HTMLElement).closest("button, a, input, select")) return;
              onRowClick(row);
            } : undefined}
            onKeyDown={onRowClick ? (e) => {
              if (e.key === "Enter" && e.target === e.currentTarget) onRowClick(row);
            } : undefined}
            tabIndex={onRowClick ? 0 : undefined}
            aria-label={onRowClick && rowLabel ? rowLabel(row) : undefined}
          >
            {renderExpanded ? (
              <td className="cell-toggle">
                <button
                  type="button"
                  className="btn btn-ghost btn-icon"
                  aria-expanded={isOpen}
                  aria-controls={detailId}
                  aria-label={expandLabel ? expandLabel(row) : "Show details"}
                  onClick={() => toggle(key)}
                >
                  <span aria-hidden="true" className={`chevron${isOpen ? " chevron-open" : ""}`}>
                    ›
                  </span>
                </button>
              </td>
            ) : null}
            {columns.map((c) => (
              <td key={c.key} className={c.className}>
                {c.render(row)}
              </td>
            ))}
          </tr>
          {renderExpanded && isOpen ? (
            <tr className="row-detail" id={detailId}>
              <td colSpan={colCount}>{renderExpanded(row)}</td>
            </tr>
          ) : null}
        </Fragment>
      );
    });
  }

  return (
    <div className="table-wrap">
      <div className="table-scroll">
        <table className="table" aria-busy={loading || undefined}>
          <caption className="sr-only">{label}</caption>
          <thead>
            <tr>
              {renderExpanded ? (
                <th scope="col" className="cell-toggle">
                  <span className="sr-only">Details</span>
                </th>
              ) : null}
              {columns.map((c) => {
                const active = sort?.key === c.key;
                const ariaSort = active ? (sort!.dir === "asc" ? "ascending" : "descending") : c.sortable ? "none" : undefined;
                return (
                  <th key={c.key} scope="col" className={c.className} aria-sort={ariaSort}>
                    {c.sortable && onSortChange ? (
                      <button type="button" className="th-sort" onClick={() => sortBy(c)}>
                        {c.header}
                        <span aria-hidden="true" className="sort-indicator">
                          {active ? (sort!.dir === "asc" ? "▲" : "▼") : "↕"}
                        </span>
                      </button>
                    ) : (
                      c.header
                    )}
                  </th>
                );
              })}
            </tr>
          </thead>
          <tbody className={loading && rows ? "tbody-loading" : undefined}>{body}</tbody>
        </table>
      </div>
      {pagination ? <PaginationBar {...pagination} loading={loading} count={rows?.length ?? 0} /> : null}
    </div>
  );
}

function PaginationBar({
  page,
  hasPrev,
  hasNext,
  onPrev,
  onNext,
  pageSize,
  onPageSizeChange,
  pageSizes = [25, 50, 100],
  loading,
  count,
}: Pagination & { loading: boolean; count: number }) {
  const sizeId = useId();
  return (
    <nav className="pagination" aria-label="Pagination">
      <div className="pagination-info">
        {loading ? <Spinner label="Loading page" /> : null}
        <span>
          Page {page}
          {count > 0 ? ` · ${count} row${count === 1 ? "" : "s"}` : ""}
        </span>
      </div>
      <div className="pagination-controls">
        {onPageSizeChange ? (
          <label htmlFor={sizeId} className="pagination-size">
            Rows per page
            <select
              id={sizeId}
              className="input select input-sm"
              value={pageSize}
              onChange={(e) => onPageSizeChange(Number(e.target.value))}
            >
              {pageSizes.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </label>
        ) : null}
        <button type="button" className="btn btn-secondary btn-sm" onClick={onPrev} disabled={!hasPrev || loading}>
          ‹ Previous
        </button>
        <button type="button" className="btn btn-secondary btn-sm" onClick={onNext} disabled={!hasNext || loading}>
          Next ›
        </button>
      </div>
    </nav>
  );
}
