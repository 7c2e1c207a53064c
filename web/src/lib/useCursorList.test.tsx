import { act, renderHook, waitFor } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { useCursorList, type CursorQuery } from "./useCursorList";

type F = { q: string };

describe("useCursorList", () => {
  it("walks pages with cursors, goes back, and restarts when filters change", async () => {
    const fetchPage = vi.fn(async ({ cursor, filters }: CursorQuery<F>) => {
      if (!cursor) return { items: [`${filters.q}-1`, `${filters.q}-2`], next: "c2" };
      return { items: [`${filters.q}-3`], next: null };
    });
    const { result, rerender } = renderHook(({ f }) => useCursorList<string, F>(fetchPage, f, 2), { initialProps: { f: { q: "a" } } });
    await waitFor(() => expect(result.current.items).toEqual(["a-1", "a-2"]));
    expect(result.current).toMatchObject({ page: 1, hasPrev: false, hasNext: true });
    expect(fetchPage).toHaveBeenLastCalledWith({ filters: { q: "a" }, cursor: undefined, limit: 2 });

    act(() => result.current.next());
    await waitFor(() => expect(result.current.items).toEqual(["a-3"]));
    expect(result.current).toMatchObject({ page: 2, hasPrev: true, hasNext: false });
    expect(fetchPage).toHaveBeenLastCalledWith({ filters: { q: "a" }, cursor: "c2", limit: 2 });

    act(() => result.current.prev());
    await waitFor(() => expect(result.current.items).toEqual(["a-1", "a-2"]));

    act(() => result.current.next());
    await waitFor(() => expect(result.current.page).toBe(2));
    rerender({ f: { q: "b" } });
    await waitFor(() => expect(result.current.items).toEqual(["b-1", "b-2"]));
    expect(result.current.page).toBe(1);
    // The new filter never reused the old walk's cursor.
    expect(fetchPage).not.toHaveBeenCalledWith({ filters: { q: "b" }, cursor: "c2", limit: 2 });
  });

  it("reports errors and retries on reload", async () => {
    const fetchPage = vi.fn().mockRejectedValueOnce(new Error("down")).mockResolvedValueOnce({ items: ["x"], next: null });
    const { result } = renderHook(() => useCursorList<string, F>(fetchPage, { q: "" }));
    await waitFor(() => expect(result.current.error).toBeInstanceOf(Error));
    act(() => result.current.reload());
    await waitFor(() => expect(result.current.items).toEqual(["x"]));
    expect(result.current.error).toBeNull();
  });
});
