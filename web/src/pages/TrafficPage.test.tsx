import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useLocation } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ServerTraffic, TrafficQuery, TrafficView } from "../api/monitoring";
import { FakeApi, renderApp } from "../test/harness";
import { TrafficPage } from "./TrafficPage";

// uPlot draws on a canvas jsdom does not have: record what it is given.
const charts = vi.hoisted(() => [] as { opts: { series: { label?: string }[]; bands?: unknown[] }; data: number[][] }[]);
vi.mock("uplot", () => ({
  default: class {
    width: number;
    constructor(opts: { width: number; series: { label?: string }[] }, data: number[][]) {
      this.width = opts.width;
      charts.push({ opts, data });
    }
    setSize() {}
    destroy() {}
  },
}));

afterEach(() => {
  vi.restoreAllMocks();
  charts.length = 0;
});

const counts = (over: Partial<TrafficView["totals"]> = {}) => ({
  requests: 0,
  status_2xx: 0,
  status_3xx: 0,
  status_4xx: 0,
  status_5xx: 0,
  status_other: 0,
  bytes_sent: 0,
  upstream_avg_ms: 0,
  upstream_max_ms: 0,
  ...over,
});

function view(): TrafficView {
  return {
    from: "2026-12-06T09:00:00Z",
    to: "2026-12-06T09:03:00Z",
    step_seconds: 60,
    points: [
      { at: "2026-12-06T09:00:00Z", ...counts({ requests: 10, status_2xx: 8, status_4xx: 1, status_5xx: 1, bytes_sent: 2048, upstream_avg_ms: 12.5, upstream_max_ms: 40 }) },
      { at: "2026-12-06T09:01:00Z", ...counts() },
      { at: "2026-12-06T09:02:00Z", ...counts({ requests: 4, status_2xx: 2, status_3xx: 2, bytes_sent: 100, upstream_avg_ms: 5, upstream_max_ms: 6 }) },
    ],
    totals: counts({ requests: 14, status_2xx: 10, status_3xx: 2, status_4xx: 1, status_5xx: 1, bytes_sent: 2148, upstream_avg_ms: 10.4, upstream_max_ms: 40 }),
    domains: [
      { domain: "shop.example.com", server_id: 1, requests: 12, status_5xx: 1, bytes_sent: 2000 },
      { domain: "api.example.com", server_id: 1, requests: 2, status_5xx: 0, bytes_sent: 148 },
    ],
  } as TrafficView;
}

const server = (over: Partial<ServerTraffic> = {}): ServerTraffic =>
  ({
    server_id: 1,
    name: "edge-1",
    installed: true,
    last_collected_at: "2026-12-06T09:02:30Z",
    last_attempt_at: "2026-12-06T09:02:30Z",
    last_error: null,
    failing: false,
    consecutive_failures: 0,
    failing_since: null,
    active_connections: 3,
    reading: 0,
    writing: 1,
    waiting: 2,
    requests_per_second: 0.25,
    requests_total: 100,
    accepts_total: 50,
    handled_total: 50,
    skipped_lines: 0,
    ...over,
  }) as ServerTraffic;

function LocationProbe() {
  const l = useLocation();
  return <output data-testid="location">{l.pathname + l.search}</output>;
}

const lastQuery = (fake: FakeApi) => (fake.callsTo("GET", "/api/v1/monitoring/traffic").at(-1)!.params as { query: TrafficQuery }).query;

function fakeApi() {
  return new FakeApi()
    .on("GET", "/api/v1/monitoring/traffic", () => view())
    .on("GET", "/api/v1/monitoring/traffic/servers", () => [
      server(),
      server({ server_id: 2, name: "edge-2", failing: true, consecutive_failures: 3, last_error: "ssh: connection refused", active_connections: null, requests_per_second: null }),
    ])
    .on("POST", "/api/v1/monitoring/traffic/collect", () => ({
      results: [{ server_id: 1, server_name: "edge-1", result: "ok", lines: 14, skipped_lines: 0, rotated: false, duration_ms: 30, error: null }],
    }));
}

describe("Traffic page", () => {
  it("charts the points, totals and domains; the range and selectors live in the URL", async () => {
    const fake = fakeApi();
    const before = Date.now();
    renderApp(
      <>
        <TrafficPage />
        <LocationProbe />
      </>,
      { fake, path: "/monitoring/traffic" },
    );
    expect(await screen.findByTestId("total-requests")).toHaveTextContent("14");
    // Default range: the last 24 hours.
    const from = new Date(lastQuery(fake).from!).getTime();
    expect(Math.abs(from - (before - 86400_000))).toBeLessThan(5000);

    // Requests chart: time axis in seconds, one stacked band per status class, legend shows own values.
    const requests = charts.find((c) => c.opts.series.some((s) => s.label === "2xx"))!;
    expect(requests.data[0]).toEqual([1796547600, 1796547660, 1796547720]);
    expect(requests.data[1]).toEqual([8, 0, 2]);
    expect(requests.data[2]).toEqual([8, 0, 4]); // 2xx + 3xx
    expect(requests.data[5]).toEqual([10, 0, 4]); // … + 5xx
    expect(requests.opts.bands).toHaveLength(4);
    const errors = charts.find((c) => c.opts.series.some((s) => s.label === "5xx %"))!;
    expect(errors.data[1]).toEqual([10, null, 0]);
    const latency = charts.find((c) => c.opts.series.some((s) => s.label === "average"))!;
    expect(latency.data[1]).toEqual([12.5, null, 5]);
    expect(screen.getByTestId("chart-requests")).toHaveAttribute("data-total", "14");
    expect(screen.getByTestId("chart-requests")).toHaveAttribute("data-points", "3");

    const domains = screen.getByRole("table", { name: "Traffic by domain" });
    expect(within(domains).getByTestId("domain-requests-shop.example.com")).toHaveTextContent("12");
    const status = screen.getByRole("table", { name: "Collection status" });
    const edge2 = within(status).getByRole("row", { name: /edge-2/ });
    expect(within(edge2).getByText("ssh: connection refused")).toHaveClass("text-danger");
    expect(within(edge2).getByText("failing (3×)")).toBeInTheDocument();
    expect(within(within(status).getByRole("row", { name: /edge-1/ })).getByText("0.25")).toBeInTheDocument();

    // Range, server and domain selectors write the URL and re-read.
    await userEvent.selectOptions(screen.getByLabelText("Time range"), "7d");
    await waitFor(() => expect(Math.abs(new Date(lastQuery(fake).from!).getTime() - (Date.now() - 7 * 86400_000))).toBeLessThan(5000));
    expect(screen.getByTestId("location")).toHaveTextContent("range=7d");
    await userEvent.selectOptions(screen.getByLabelText("Server"), "edge-1");
    await waitFor(() => expect(lastQuery(fake).server_id).toBe(1));
    await userEvent.click(within(domains).getByRole("button", { name: "Show only api.example.com" }));
    await waitFor(() => expect(lastQuery(fake).domain).toBe("api.example.com"));
    expect(screen.getByTestId("location")).toHaveTextContent("/monitoring/traffic?range=7d&server=1&domain=api.example.com");
    expect(screen.getByLabelText("Domain")).toHaveValue("api.example.com");
  });

  it("reads the range from the URL; operators collect now", async () => {
    const fake = fakeApi();
    renderApp(<TrafficPage />, { fake, path: "/monitoring/traffic?range=1h&server=1" });
    await screen.findByTestId("total-requests");
    expect(screen.getByLabelText("Time range")).toHaveValue("1h");
    expect(lastQuery(fake).server_id).toBe(1);
    expect(Math.abs(new Date(lastQuery(fake).from!).getTime() - (Date.now() - 3600_000))).toBeLessThan(5000);
    const reads = fake.callsTo("GET", "/api/v1/monitoring/traffic").length;
    await userEvent.click(screen.getByRole("button", { name: "Collect now" }));
    expect(await screen.findByText("Collected from 1 server: 14 log lines")).toBeInTheDocument();
    expect(fake.callsTo("POST", "/api/v1/monitoring/traffic/collect")[0].body).toEqual({ server_id: 1 });
    await waitFor(() => expect(fake.callsTo("GET", "/api/v1/monitoring/traffic").length).toBe(reads + 1));
  });

  it("has no Collect now for viewers, and says when there was no traffic", async () => {
    const fake = fakeApi().on("GET", "/api/v1/monitoring/traffic", () => ({ ...view(), points: [], totals: counts(), domains: [] }));
    renderApp(<TrafficPage />, { fake, role: "viewer", path: "/monitoring/traffic" });
    expect(await screen.findByRole("heading", { name: "No traffic in this range" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Collect now" })).toBeNull();
  });
});

describe("chart helpers", () => {
  it("stack series and find values a line cannot show", async () => {
    const { stack, isolated, withAlpha } = await import("../components/TimeChart");
    expect(stack([[1, null, 2], [3, 4, null]])).toEqual([[1, 0, 2], [4, 4, 2]]);
    expect(isolated([null, 5, null, 1, 2, null, 0])).toEqual([1, 6]);
    expect(withAlpha("#1d7a45", 0.5)).toBe("rgba(29, 122, 69, 0.5)");
    expect(withAlpha("rgb(1, 2, 3)", 0.5)).toBe("rgb(1, 2, 3)");
  });
});
