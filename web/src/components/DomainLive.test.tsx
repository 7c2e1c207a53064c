import { screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { DomainLiveState } from "../api/proxy";
import { emit, FakeApi, renderApp } from "../test/harness";
import { DomainLive, liveHeadline } from "./DomainLive";

const s = (over: Partial<DomainLiveState>): DomainLiveState => ({ domain_id: 5, server_id: 3, live_number: 7, up_to_date: true, served: true, detail: "served by generation 7", ...over });

afterEach(() => vi.restoreAllMocks());

describe("liveHeadline", () => {
  it("says whether the latest version is live", () => {
    expect(liveHeadline(s({}), "edge")).toEqual({ tone: "success", text: "Live on edge (generation 7)" });
    expect(liveHeadline(s({ up_to_date: false }), "edge")).toEqual({ tone: "warning", text: "Change pending" });
    expect(liveHeadline(s({ served: false }), "edge").text).toBe("Not served on edge");
    expect(liveHeadline(s({ server_id: null, live_number: null }), null).text).toBe("Not deployed: the group has no server");
  });
});

describe("DomainLive", () => {
  it("shows the state and re-reads it when the server's proxy applies", async () => {
    let state = s({ up_to_date: false, detail: "the live generation serves an older version" });
    const fake = new FakeApi().on("GET", "/api/v1/domains/{id}/proxy", () => state);
    const { hub } = renderApp(<DomainLive domainId={5} serverName="edge" />, { fake });
    expect(await screen.findByText("Change pending")).toBeInTheDocument();
    expect(screen.getByText("the live generation serves an older version")).toBeInTheDocument();
    state = s({ live_number: 8, detail: "served by generation 8" });
    emit(hub, "proxy.applied", { server_id: 3, number: 8, result: "live" });
    expect(await screen.findByText("Live on edge (generation 8)")).toBeInTheDocument();
    expect(screen.getByRole("link", { name: "Live generation" })).toHaveAttribute("href", "/servers/3/proxy/generations/8");
  });
});
