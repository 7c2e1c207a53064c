import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { LoadMoreList } from "../lib/useLoadMoreList";
import { LoadMoreFooter } from "./LoadMoreFooter";

function list(over: Partial<LoadMoreList<number>>): LoadMoreList<number> {
  return { items: [1, 2], loading: false, loadingMore: false, error: null, hasMore: false, loadMore: vi.fn(), reload: vi.fn(), refresh: vi.fn(), setItems: vi.fn(), ...over };
}

describe("LoadMoreFooter", () => {
  it("loads the next page on click and names the list", async () => {
    const l = list({ hasMore: true });
    render(<LoadMoreFooter list={l} label="More events" loadingLabel="Loading events" summary="2 entries shown; older ones below" />);
    expect(screen.getByRole("navigation", { name: "More events" })).toHaveTextContent("2 entries shown; older ones below");
    await userEvent.click(screen.getByRole("button", { name: "Load more" }));
    expect(l.loadMore).toHaveBeenCalledTimes(1);
  });

  it("has no button at the end, and a disabled one while a page loads", () => {
    const { rerender } = render(<LoadMoreFooter list={list({})} label="More tasks" loadingLabel="Loading tasks" summary="2 tasks shown" note={<span>boom</span>} />);
    expect(screen.queryByRole("button")).toBeNull();
    expect(screen.getByText("boom")).toBeInTheDocument();
    rerender(<LoadMoreFooter list={list({ hasMore: true, loadingMore: true })} label="More tasks" loadingLabel="Loading tasks" summary="2 tasks shown" />);
    expect(screen.getByRole("button", { name: "Loading…" })).toBeDisabled();
  });
});
