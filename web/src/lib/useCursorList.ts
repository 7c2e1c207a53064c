// Server-side list state for keyset-paginated endpoints (`{items, next}`).
// Keeps a stack of cursors so "Previous" works, resets to the first page when
// the filters change, and ignores answers to superseded requests.
import { useCallback, useEffect, useRef, useState } from "react";
import type { Page } from "../api/client";

export interface CursorQuery<F> {
  filters: F;
  cursor?: string;
  limit: number;
}

export interface CursorList<T> {
  items: T[] | undefined;
  loading: boolean;
  error: unknown;
  page: number;
  hasPrev: boolean;
  hasNext: boolean;
  next: () => void;
  prev: () => void;
  reload: () => void;
  pageSize: number;
  setPageSize: (n: number) => void;
  /** Replace one item in place (e.g. after an edit or a live event). */
  updateItem: (match: (item: T) => boolean, update: (item: T) => T) => void;
}

export function useCursorList<T, F>(
  fetchPage: (q: CursorQuery<F>) => Promise<Page<T>>,
  filters: F,
  initialPageSize = 50,
): CursorList<T> {
  const [pageSize, setPageSizeState] = useState(initialPageSize);
  const [items, setItems] = useState<T[] | undefined>(undefined);
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  const fetchRef = useRef(fetchPage);
  fetchRef.current = fetchPage;
  const filtersRef = useRef(filters);
  filtersRef.current = filters;

  // The walk (stack of cursors) belongs to one filter set and page size: when
  // either changes, the walk starts again at the first page.
  const key = JSON.stringify(filters) + "|" + pageSize;
  const [walk, setWalk] = useState<{ key: string; cursors: (string | undefined)[] }>({ key, cursors: [undefined] });
  const cursors = walk.key === key ? walk.cursors : [undefined];

  const cursor = cursors[cursors.length - 1];
  useEffect(() => {
    const id = ++seq.current;
    setLoading(true);
    setError(null);
    fetchRef
      .current({ filters: filtersRef.current, cursor, limit: pageSize })
      .then((page) => {
        if (id !== seq.current) return;
        setItems(page.items);
        setNextCursor(page.next ?? null);
        setLoading(false);
      })
      .catch((e: unknown) => {
        if (id !== seq.current) return;
        setError(e);
        setLoading(false);
      });
  }, [cursor, cursors.length, pageSize, key, tick]);

  const next = () => {
    if (nextCursor) setWalk({ key, cursors: [...cursors, nextCursor] });
  };
  const prev = () => {
    if (cursors.length > 1) setWalk({ key, cursors: cursors.slice(0, -1) });
  };
  const reload = useCallback(() => setTick((t) => t + 1), []);
  const setPageSize = useCallback((n: number) => setPageSizeState(n), []);
  const updateItem = useCallback(
    (match: (item: T) => boolean, update: (item: T) => T) =>
      setItems((list) => list?.map((i) => (match(i) ? update(i) : i))),
    [],
  );

  return {
    items,
    loading,
    error,
    page: cursors.length,
    hasPrev: cursors.length > 1,
    hasNext: nextCursor != null,
    next,
    prev,
    reload,
    pageSize,
    setPageSize,
    updateItem,
  };
}
