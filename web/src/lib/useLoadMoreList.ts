// A keyset-paginated list (`{items, next}`) shown as one growing list with
// "Load more" instead of pages. `refresh()` re-reads everything loaded so far
// in one request (used after live events), so the rows a user scrolled to
// stay. Answers to superseded requests are dropped, and the list starts again
// when the filters change (the old rows stay, dimmed, until the answer).
import { useCallback, useEffect, useRef, useState } from "react";
import type { Page } from "../api/client";

export interface LoadMoreList<T> {
  items: T[] | undefined;
  loading: boolean;
  loadingMore: boolean;
  error: unknown;
  hasMore: boolean;
  loadMore: () => void;
  /** Re-reads the first page (filters changed, Retry). */
  reload: () => void;
  /** Re-reads all rows loaded so far, in place. */
  refresh: () => void;
  setItems: (update: (items: T[]) => T[]) => void;
}

/** The most rows one request may ask for (the API's limit). */
export const MAX_LIMIT = 500;

export function useLoadMoreList<T, F>(
  fetchPage: (filters: F, cursor: string | undefined, limit: number) => Promise<Page<T>>,
  filters: F,
  pageSize = 50,
): LoadMoreList<T> {
  const [items, setItemsState] = useState<T[] | undefined>(undefined);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  const fetchRef = useRef(fetchPage);
  fetchRef.current = fetchPage;
  const filtersRef = useRef(filters);
  filtersRef.current = filters;
  const countRef = useRef(0);
  countRef.current = items?.length ?? 0;
  const key = JSON.stringify(filters);

  const run = useCallback(
    (limit: number, cursor: string | undefined, append: boolean) => {
      const id = ++seq.current;
      if (append) setLoadingMore(true);
      else setLoading(true);
      fetchRef
        .current(filtersRef.current, cursor, limit)
        .then((page) => {
          if (id !== seq.current) return;
          setItemsState((prev) => (append && prev ? [...prev, ...page.items] : page.items));
          setNext(page.next ?? null);
          setError(null);
        })
        .catch((e: unknown) => {
          if (id !== seq.current) return;
          setError(e);
        })
        .finally(() => {
          if (id !== seq.current) return;
          setLoading(false);
          setLoadingMore(false);
        });
    },
    [],
  );

  // Rows stay visible (dimmed) while the first page of new filters loads.
  useEffect(() => {
    run(pageSize, undefined, false);
  }, [key, pageSize, tick, run]);

  const loadMore = useCallback(() => {
    if (next) run(pageSize, next, true);
  }, [next, pageSize, run]);

  const refresh = useCallback(() => {
    run(Math.min(MAX_LIMIT, Math.max(pageSize, countRef.current)), undefined, false);
  }, [pageSize, run]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  const setItems = useCallback((update: (items: T[]) => T[]) => setItemsState((prev) => (prev ? update(prev) : prev)), []);

  return { items, loading, loadingMore, error, hasMore: next != null, loadMore, reload, refresh, setItems };
}
