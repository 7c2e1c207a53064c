// The footer under a "Load more" list (useLoadMoreList): how many rows are
// shown, a spinner while a page loads, an optional note, and the button.
import type { ReactNode } from "react";
import type { LoadMoreList } from "../lib/useLoadMoreList";
import { Spinner } from "./States";

export function LoadMoreFooter<T>({
  list,
  label,
  loadingLabel,
  summary,
  note,
}: {
  list: LoadMoreList<T>;
  /** The navigation landmark's name, e.g. "More events". */
  label: string;
  /** What the spinner announces, e.g. "Loading events". */
  loadingLabel: string;
  /** e.g. "12 entries shown; older ones below". */
  summary: string;
  /** Shown next to the button (e.g. why the last page failed). */
  note?: ReactNode;
}) {
  return (
    <nav className="pagination" aria-label={label}>
      <div className="pagination-info">
        {list.loading || list.loadingMore ? <Spinner label={loadingLabel} /> : null}
        <span>{summary}</span>
      </div>
      <div className="pagination-controls">
        {note}
        {list.hasMore ? (
          <button type="button" className="btn btn-secondary btn-sm" onClick={list.loadMore} disabled={list.loadingMore}>
            {list.loadingMore ? "Loading…" : "Load more"}
          </button>
        ) : null}
      </div>
    </nav>
  );
}
