import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { DomainGroup } from "../api/domainTypes";
import { FakeApi, renderApp } from "../test/harness";
import { DomainGroupPage } from "./DomainGroupPage";

const group = (over: Partial<DomainGroup> = {}): DomainGroup => ({
  id: 1,
  name: "web",
  description: "",
  domain_count: 0,
  manual_approval: false,
  auto_repair: false,
  server: { id: 3, name: "edge" },
  version: 4,
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-01T00:00:00Z",
  ...over,
});

afterEach(() => vi.restoreAllMocks());

describe("DomainGroupPage", () => {
  it("turns on automatic drift repair next to manual approval, sending only that change with If-Match", async () => {
    let current = group();
    const fake = new FakeApi()
      .on("GET", "/api/v1/domain-groups/{id}", () => current)
      .on("GET", "/api/v1/domain-groups", () => ({ items: [current], next: null }))
      .on("GET", "/api/v1/servers", () => ({ items: [{ id: 3, name: "edge" }], next: null }))
      .on("GET", "/api/v1/domains", () => ({ items: [], next: null }))
      .on("PATCH", "/api/v1/domain-groups/{id}", ({ body }) => (current = { ...current, ...(body as object), version: 5 }));
    renderApp(<DomainGroupPage />, { fake, path: "/domains/groups/1", route: "/domains/groups/:id" });
    const settings = await screen.findByRole("form", { name: "Group settings" });
    expect(within(settings).getByLabelText("Manual approval")).not.toBeChecked();
    await userEvent.click(within(settings).getByLabelText("Repair drift automatically"));
    await userEvent.click(within(settings).getByRole("button", { name: "Save group" }));
    await waitFor(() => expect(fake.callsTo("PATCH", "/api/v1/domain-groups/{id}")).toHaveLength(1));
    expect(fake.callsTo("PATCH", "/api/v1/domain-groups/{id}")[0]).toMatchObject({
      params: { path: { id: 1 }, header: { "If-Match": '"4"' } },
      body: { auto_repair: true },
    });
    expect(await screen.findByText("Group “web” saved")).toBeInTheDocument();
    expect(screen.getByText("auto repair")).toBeInTheDocument();
  });
});
