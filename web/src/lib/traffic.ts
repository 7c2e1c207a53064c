// The pure logic of the Traffic page: its URL filters, the time range → API
// query, the chart series (requests by status class, error rates, upstream
// latency) and number formatting.
import type { CollectResult, TrafficPoint, TrafficQuery } from "../api/monitoring";

/** The Traffic page's filters in the URL (`/monitoring/traffic?range=7d&server=3&domain=shop.example.com`). */
export const TRAFFIC_FILTERS = ["range", "server", "domain"] as const;
export type TrafficFilters = Record<(typeof TRAFFIC_FILTERS)[number], string>;

export const TRAFFIC_RANGES: { value: string; label: string; seconds: number }[] = [
  { value: "1h", label: "Last hour", seconds: 3600 },
  { value: "6h", label: "Last 6 hours", seconds: 6 * 3600 },
  { value: "24h", label: "Last 24 hours", seconds: 86400 },
  { value: "7d", label: "Last 7 days", seconds: 7 * 86400 },
  { value: "30d", label: "Last 30 days", seconds: 30 * 86400 },
];
export const DEFAULT_RANGE = "24h";

export function rangeOf(value: string) {
  return TRAFFIC_RANGES.find((r) => r.value === value) ?? TRAFFIC_RANGES.find((r) => r.value === DEFAULT_RANGE)!;
}

/** The API query for the filters, the range ending now. */
export function trafficQuery(f: TrafficFilters, now = Date.now()): TrafficQuery {
  const q: TrafficQuery = { from: new Date(now - rangeOf(f.range).seconds * 1000).toISOString() };
  if (/^\d+$/.test(f.server)) q.server_id = Number(f.server);
  if (f.domain.trim()) q.domain = f.domain.trim();
  return q;
}

export interface TrafficSeries {
  times: number[];
  s2xx: number[];
  s3xx: number[];
  s4xx: number[];
  s5xx: number[];
  other: number[];
  /** Percent of the bucket's requests; null when it had none. */
  rate4xx: (number | null)[];
  rate5xx: (number | null)[];
  /** ms; null when no upstream answered in the bucket. */
  avgMs: (number | null)[];
  maxMs: (number | null)[];
}

const pct = (n: number, of: number) => (of > 0 ? Math.round((n / of) * 1000) / 10 : null);

/** The chart columns of a range's points. */
export function trafficSeries(points: TrafficPoint[]): TrafficSeries {
  const s: TrafficSeries = { times: [], s2xx: [], s3xx: [], s4xx: [], s5xx: [], other: [], rate4xx: [], rate5xx: [], avgMs: [], maxMs: [] };
  for (const p of points) {
    s.times.push(Math.floor(new Date(p.at).getTime() / 1000));
    s.s2xx.push(p.status_2xx);
    s.s3xx.push(p.status_3xx);
    s.s4xx.push(p.status_4xx);
    s.s5xx.push(p.status_5xx);
    s.other.push(p.status_other);
    s.rate4xx.push(pct(p.status_4xx, p.requests));
    s.rate5xx.push(pct(p.status_5xx, p.requests));
    const answered = p.requests > 0 && (p.upstream_avg_ms > 0 || p.upstream_max_ms > 0);
    s.avgMs.push(answered ? p.upstream_avg_ms : null);
    s.maxMs.push(answered ? p.upstream_max_ms : null);
  }
  return s;
}

/** "12.5 %" of `n` in `of`; "—" when there is nothing to divide. */
export function percent(n: number, of: number): string {
  const p = pct(n, of);
  return p == null ? "—" : `${p} %`;
}

const count = new Intl.NumberFormat(undefined);
export function formatCount(n: number): string {
  return count.format(n);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v >= 100 ? Math.round(v) : v.toFixed(1)} ${units[u]}`;
}

export function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms * 10) / 10} ms`;
}

/** One sentence for the toast after "Collect now". */
export function collectSummary(results: CollectResult[]): { ok: boolean; text: string } {
  if (results.length === 0) return { ok: true, text: "No server has the reverse proxy installed: nothing to collect." };
  const failed = results.filter((r) => r.result === "failed");
  const lines = results.reduce((a, r) => a + r.lines, 0);
  const head = `Collected from ${results.length} server${results.length === 1 ? "" : "s"}: ${formatCount(lines)} log line${lines === 1 ? "" : "s"}`;
  if (failed.length === 0) {
    const pending = results.filter((r) => r.result === "pending" || r.result === "busy").length;
    return { ok: true, text: pending ? `${head}; ${pending} still running` : head };
  }
  return {
    ok: false,
    text: `${head}; failed on ${failed.map((r) => `${r.server_name ?? `server ${r.server_id}`} (${r.error ?? "unknown error"})`).join(", ")}`,
  };
}
