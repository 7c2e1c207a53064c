// Row selection for bulk actions: a set of ids, "select all on this page",
// and pruning ids that are no longer listed.
import { useCallback, useMemo, useState } from "react";

export type HeaderState = "none" | "some" | "all";

/** Whether all, some or none of the page's rows are selected. */
export function headerState(selected: ReadonlySet<number>, pageIds: readonly number[]): HeaderState {
  const n = pageIds.filter((id) => selected.has(id)).length;
  if (n === 0) return "none";
  return n === pageIds.length ? "all" : "some";
}

export function toggleOne(selected: ReadonlySet<number>, id: number): Set<number> {
  const next = new Set(selected);
  if (next.has(id)) next.delete(id);
  else next.add(id);
  return next;
}

/** The header checkbox: selects the whole page, or clears it when all were selected. */
export function togglePage(selected: ReadonlySet<number>, pageIds: readonly number[]): Set<number> {
  const next = new Set(selected);
  if (headerState(selected, pageIds) === "all") pageIds.forEach((id) => next.delete(id));
  else pageIds.forEach((id) => next.add(id));
  return next;
}

/** Keeps only ids still listed (after a reload, a filter change or a delete). */
export function prune(selected: ReadonlySet<number>, pageIds: readonly number[]): Set<number> {
  const listed = new Set(pageIds);
  return new Set([...selected].filter((id) => listed.has(id)));
}

export function useSelection(pageIds: readonly number[]) {
  const [raw, setRaw] = useState<Set<number>>(new Set());
  // Only rows on the current page can be acted on: what is not listed is not selected.
  const key = pageIds.join(",");
  const selected = useMemo(() => prune(raw, pageIds), [raw, key]);
  const toggle = useCallback((id: number) => setRaw((s) => toggleOne(prune(s, pageIds), id)), [key]);
  const toggleAll = useCallback(() => setRaw((s) => togglePage(prune(s, pageIds), pageIds)), [key]);
  const clear = useCallback(() => setRaw(new Set()), []);
  return { selected, ids: [...selected], state: headerState(selected, pageIds), toggle, toggleAll, clear };
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
