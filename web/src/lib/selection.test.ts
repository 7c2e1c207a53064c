import { act, renderHook } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { headerState, plural, prune, toggleOne, togglePage, useSelection } from "./selection";

describe("bulk selection", () => {
  it("tells whether none, some or all rows of the page are selected", () => {
    expect(headerState(new Set(), [1, 2])).toBe("none");
    expect(headerState(new Set([1]), [1, 2])).toBe("some");
    expect(headerState(new Set([1, 2]), [1, 2])).toBe("all");
    expect(headerState(new Set([9]), [1, 2])).toBe("none");
  });

  it("toggles one row and the whole page", () => {
    expect([...toggleOne(new Set([1]), 2)]).toEqual([1, 2]);
    expect([...toggleOne(new Set([1, 2]), 1)]).toEqual([2]);
    expect([...togglePage(new Set([1]), [1, 2, 3])].sort()).toEqual([1, 2, 3]);
    expect([...togglePage(new Set([1, 2, 3]), [1, 2, 3])]).toEqual([]);
  });

  it("drops rows that are no longer listed", () => {
    expect([...prune(new Set([1, 2, 3]), [2, 3, 4])]).toEqual([2, 3]);
  });

  it("the hook only acts on listed rows", () => {
    const { result, rerender } = renderHook(({ ids }) => useSelection(ids), { initialProps: { ids: [1, 2, 3] } });
    act(() => result.current.toggleAll());
    expect(result.current.ids).toEqual([1, 2, 3]);
    expect(result.current.state).toBe("all");
    rerender({ ids: [2, 3, 4] }); // row 1 deleted, row 4 appeared
    expect(result.current.ids).toEqual([2, 3]);
    expect(result.current.state).toBe("some");
    act(() => result.current.toggle(4));
    expect(result.current.state).toBe("all");
    act(() => result.current.clear());
    expect(result.current.ids).toEqual([]);
  });

  it("names counts", () => {
    expect(plural(1, "domain")).toBe("1 domain");
    expect(plural(3, "domain")).toBe("3 domains");
  });
});
