import { act, renderHook, waitFor } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { useLoadMoreList } from "./useLoadMoreList";

type F = { q: string };

describe("useLoadMoreList", () => {
  it("appends pages, re-reads all loaded rows in one request, and restarts when filters change", async () => {
    const fetchPage = vi.fn(async (f: F, cursor: string | undefined, limit: number) => {
      if (limit > 2) return { items: [`${f.q}-1`, `${f.q}-2`, `${f.q}-3*`], next: null };
      if (!cursor) return { items: [`${f.q}-1`, `${f.q}-2`], next: "c2" };
      return { items: [`${f.q}-3`], next: null };
    });
    const { result, rerender } = renderHook(({ f }) => useLoadMoreList<string, F>(fetchPage, f, 2), { initialProps: { f: { q: "a" } } });
    await waitFor(() => expect(result.current.items).toEqual(["a-1", "a-2"]));
    expect(result.current.hasMore).toBe(true);

    act(() => result.current.loadMore());
    await waitFor(() => expect(result.current.items).toEqual(["a-1", "a-2", "a-3"]));
    expect(fetchPage).toHaveBeenLastCalledWith({ q: "a" }, "c2", 2);
    expect(result.current.hasMore).toBe(false);

    act(() => result.current.refresh());
    await waitFor(() => expect(result.current.items).toEqual(["a-1", "a-2", "a-3*"]));
    expect(fetchPage).toHaveBeenLastCalledWith({ q: "a" }, undefined, 3);

    rerender({ f: { q: "b" } });
    // The old rows stay until the new answer.
    expect(result.current.items).toEqual(["a-1", "a-2", "a-3*"]);
    await waitFor(() => expect(result.current.items).toEqual(["b-1", "b-2"]));
    expect(fetchPage).toHaveBeenLastCalledWith({ q: "b" }, undefined, 2);
  });

  it("drops answers to superseded requests and reports errors", async () => {
    let resolveSlow: (v: { items: string[]; next: null }) => void = () => {};
    const fetchPage = vi
      .fn()
      .mockImplementationOnce(() => new Promise((r) => (resolveSlow = r)))
      .mockResolvedValueOnce({ items: ["new"], next: null })
      .mockRejectedValueOnce(new Error("down"));
    const { result, rerender } = renderHook(({ f }) => useLoadMoreList<string, F>(fetchPage, f), { initialProps: { f: { q: "old" } } });
    rerender({ f: { q: "new" } });
    await waitFor(() => expect(result.current.items).toEqual(["new"]));
    await act(async () => resolveSlow({ items: ["old"], next: null }));
    expect(result.current.items).toEqual(["new"]);
    act(() => result.current.refresh());
    await waitFor(() => expect(result.current.error).toBeInstanceOf(Error));
    expect(result.current.items).toEqual(["new"]);
  });
});
