// Traffic (/monitoring/traffic): what the reverse proxies served, from the
// access logs Gantry collects over SSH. Charts of requests by status class,
// error rates and upstream latency over a range (1 h … 30 d), per server and
// domain (all in the URL); the busiest domains; each server's collection
// state; "Collect now" for operators. A collection failing or recovering
// (`event.recorded` of kind `traffic.`) re-reads the servers.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link } from "react-router";
import { hasRole } from "../api/client";
import { useEvents } from "../api/events";
import { collectTraffic, getTraffic, trafficServers, type DomainTraffic, type EventLogEntry, type ServerTraffic, type TrafficView } from "../api/monitoring";
import { useMe } from "../auth/AuthContext";
import { Badge } from "../components/Badge";
import { DataTable, type Column } from "../components/DataTable";
import { SelectField } from "../components/Form";
import { PageHeader } from "../components/Layout";
import { EmptyState, ErrorState, Loading } from "../components/States";
import { TimeChart, type ChartSeries } from "../components/TimeChart";
import { useToast } from "../components/Toasts";
import { formatDateTime, formatRelative } from "../lib/format";
import {
  collectSummary,
  DEFAULT_RANGE,
  formatBytes,
  formatCount,
  formatMs,
  percent,
  rangeOf,
  TRAFFIC_FILTERS,
  TRAFFIC_RANGES,
  trafficQuery,
  trafficSeries,
} from "../lib/traffic";
import { useList } from "../lib/useList";
import { useUrlFilters } from "../lib/useUrlFilters";

export function TrafficPage() {
  const me = useMe();
  const canCollect = hasRole(me.role, "operator");
  const toast = useToast();
  const [f, setF] = useUrlFilters(TRAFFIC_FILTERS);
  const range = rangeOf(f.range);
  const servers = useList(trafficServers);
  const [view, setView] = useState<TrafficView | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [collecting, setCollecting] = useState(false);
  const [knownDomains, setKnownDomains] = useState<string[]>([]);
  const seq = useRef(0);

  const load = useCallback(() => {
    const id = ++seq.current;
    setLoading(true);
    getTraffic(trafficQuery({ range: range.value, server: f.server, domain: f.domain }))
      .then((v) => {
        if (id !== seq.current) return;
        setView(v);
        setError(null);
        setKnownDomains((prev) => Array.from(new Set([...prev, ...v.domains.map((d) => d.domain)])).sort());
      })
      .catch((e: unknown) => {
        if (id === seq.current) setError(e);
      })
      .finally(() => {
        if (id === seq.current) setLoading(false);
      });
  }, [range.value, f.server, f.domain]);
  useEffect(load, [load]);

  const reloadServers = servers.reload;
  useEvents("event.recorded", (e) => {
    const entry = e.payload as Partial<EventLogEntry>;
    if (entry.kind?.startsWith("traffic.")) void reloadServers();
  });

  async function collectNow() {
    setCollecting(true);
    try {
      const results = await collectTraffic(f.server ? Number(f.server) : undefined);
      const s = collectSummary(results);
      if (s.ok) toast.success(s.text);
      else toast.error(s.text);
      load();
      void reloadServers();
    } catch (e) {
      toast.error(e instanceof Error ? e.message : "Could not collect traffic");
    } finally {
      setCollecting(false);
    }
  }

  const serverName = useCallback(
    (id: number) => servers.items?.find((s) => s.server_id === id)?.name ?? `server ${id}`,
    [servers.items],
  );

  const series = useMemo(() => (view ? trafficSeries(view.points) : null), [view]);
  const charts = useMemo(() => {
    if (!series) return null;
    const n = (v: number) => formatCount(v);
    const p = (v: number) => `${v} %`;
    const ms = (v: number) => formatMs(v);
    return {
      requests: [
        { label: "2xx", values: series.s2xx, color: "--success", format: n },
        { label: "3xx", values: series.s3xx, color: "--info", format: n },
        { label: "4xx", values: series.s4xx, color: "--warning", format: n },
        { label: "5xx", values: series.s5xx, color: "--danger", format: n },
        { label: "other", values: series.other, color: "--purple", format: n },
      ] satisfies ChartSeries[],
      errors: [
        { label: "4xx %", values: series.rate4xx, color: "--warning", format: p },
        { label: "5xx %", values: series.rate5xx, color: "--danger", format: p },
      ] satisfies ChartSeries[],
      latency: [
        { label: "average", values: series.avgMs, color: "--accent", format: ms },
        { label: "max", values: series.maxMs, color: "--purple", format: ms },
      ] satisfies ChartSeries[],
    };
  }, [series]);

  const domainOptions = Array.from(new Set([...knownDomains, ...(f.domain ? [f.domain] : [])])).sort();
  const serverOptions = servers.items ?? [];
  const filtered = Boolean(f.server || f.domain || (f.range && f.range !== DEFAULT_RANGE));
  const totals = view?.totals;
  const step = view ? (view.step_seconds >= 3600 ? "per hour" : "per minute") : "";

  const domainColumns: Column<DomainTraffic>[] = [
    {
      key: "domain",
      header: "Domain",
      render: (d) => (
        <button type="button" className="btn btn-ghost btn-sm btn-inline strong" onClick={() => setF({ domain: d.domain })} aria-label={`Show only ${d.domain}`}>
          {d.domain}
        </button>
      ),
    },
    {
      key: "server",
      header: "Server",
      render: (d) => (
        <Link to={`/servers/${d.server_id}`} className="table-link">
          {serverName(d.server_id)}
        </Link>
      ),
    },
    { key: "requests", header: "Requests", className: "num", render: (d) => <span data-testid={`domain-requests-${d.domain}`}>{formatCount(d.requests)}</span> },
    {
      key: "5xx",
      header: "5xx",
      className: "num",
      render: (d) => <span className={d.status_5xx > 0 ? "text-danger" : undefined}>{formatCount(d.status_5xx)}</span>,
    },
    { key: "5xx_rate", header: "5xx rate", className: "num", render: (d) => percent(d.status_5xx, d.requests) },
    { key: "bytes", header: "Sent", className: "num", render: (d) => formatBytes(d.bytes_sent) },
  ];

  const serverColumns: Column<ServerTraffic>[] = [
    {
      key: "name",
      header: "Server",
      render: (s) => (
        <Link to={`/servers/${s.server_id}`} className="strong table-link">
          {s.name}
        </Link>
      ),
    },
    {
      key: "state",
      header: "Collection",
      render: (s) =>
        !s.installed ? (
          <Badge tone="neutral">proxy not installed</Badge>
        ) : s.failing ? (
          <Badge tone="danger">failing{s.consecutive_failures > 1 ? ` (${s.consecutive_failures}×)` : ""}</Badge>
        ) : s.last_collected_at ? (
          <Badge tone="success">ok</Badge>
        ) : (
          <Badge tone="neutral">not collected yet</Badge>
        ),
    },
    {
      key: "last",
      header: "Last collected",
      render: (s) => <span title={formatDateTime(s.last_collected_at)}>{formatRelative(s.last_collected_at)}</span>,
    },
    {
      key: "error",
      header: "Last error",
      className: "col-wide",
      render: (s) =>
        s.last_error ? (
          <span className="text-danger small truncate status-msg" title={s.last_error}>
            {s.last_error}
          </span>
        ) : (
          <span className="muted">—</span>
        ),
    },
    { key: "active", header: "Active connections", className: "num", render: (s) => (s.active_connections != null ? formatCount(s.active_connections) : "—") },
    {
      key: "rps",
      header: "Requests/s",
      className: "num",
      render: (s) => (s.requests_per_second != null ? (Math.round(s.requests_per_second * 100) / 100).toString() : "—"),
    },
  ];

  return (
    <>
      <PageHeader
        title="Traffic"
        description="What the reverse proxies served: requests, errors and upstream latency, from the access logs Gantry collects."
        actions={
          canCollect ? (
            <button type="button" className="btn btn-primary" onClick={() => void collectNow()} disabled={collecting}>
              {collecting ? "Collecting…" : "Collect now"}
            </button>
          ) : null
        }
      />
      <section className="card" aria-labelledby="traffic-title">
        <h2 id="traffic-title" className="sr-only">
          Traffic over time
        </h2>
        <form className="filters" role="search" aria-label="Filter traffic" onSubmit={(e) => e.preventDefault()}>
          <SelectField
            label="Time range"
            name="range"
            value={range.value}
            onChange={(e) => setF({ range: e.target.value === DEFAULT_RANGE ? "" : e.target.value })}
            options={TRAFFIC_RANGES.map((r) => ({ value: r.value, label: r.label }))}
          />
          <SelectField
            label="Server"
            name="server"
            value={f.server}
            onChange={(e) => setF({ server: e.target.value })}
            options={[
              { value: "", label: "All servers" },
              ...serverOptions.map((s) => ({ value: String(s.server_id), label: s.name })),
              ...(f.server && !serverOptions.some((s) => String(s.server_id) === f.server) ? [{ value: f.server, label: `server ${f.server}` }] : []),
            ]}
          />
          <SelectField
            label="Domain"
            name="domain"
            value={f.domain}
            onChange={(e) => setF({ domain: e.target.value })}
            options={[{ value: "", label: "All domains" }, ...domainOptions.map((d) => ({ value: d, label: d }))]}
          />
          {filtered ? (
            <button type="button" className="btn btn-ghost filters-clear" onClick={() => setF({ range: "", server: "", domain: "" })}>
              Clear filters
            </button>
          ) : null}
        </form>
        {error && !view ? (
          <ErrorState error={error} onRetry={load} />
        ) : !view || !totals || !series || !charts ? (
          <Loading />
        ) : (
          <div className={loading ? "tbody-loading" : undefined} aria-busy={loading || undefined}>
            {error ? <ErrorState error={error} onRetry={load} /> : null}
            <dl className="traffic-totals" aria-label="Totals" data-testid="traffic-totals">
              <div>
                <dt>Requests</dt>
                <dd data-testid="total-requests">{formatCount(totals.requests)}</dd>
              </div>
              <div>
                <dt>4xx</dt>
                <dd>
                  {formatCount(totals.status_4xx)} <span className="muted small">{percent(totals.status_4xx, totals.requests)}</span>
                </dd>
              </div>
              <div>
                <dt>5xx</dt>
                <dd className={totals.status_5xx > 0 ? "text-danger" : undefined}>
                  {formatCount(totals.status_5xx)} <span className="muted small">{percent(totals.status_5xx, totals.requests)}</span>
                </dd>
              </div>
              <div>
                <dt>Sent</dt>
                <dd>{formatBytes(totals.bytes_sent)}</dd>
              </div>
              <div>
                <dt>Upstream avg</dt>
                <dd>{totals.requests > 0 ? formatMs(totals.upstream_avg_ms) : "—"}</dd>
              </div>
              <div>
                <dt>Upstream max</dt>
                <dd>{totals.requests > 0 ? formatMs(totals.upstream_max_ms) : "—"}</dd>
              </div>
            </dl>
            <p className="muted small">
              {formatDateTime(view.from)} – {formatDateTime(view.to)}, {step}.
            </p>
            {totals.requests === 0 ? (
              <EmptyState title="No traffic in this range" icon="▁">
                <p>
                  Requests appear here once a server's reverse proxy serves them and Gantry has collected its access log (every minute by
                  default{canCollect ? ", or now with “Collect now”" : ""}).
                </p>
              </EmptyState>
            ) : null}
            <div className="charts">
              <TimeChart
                className="chart-wide"
                testId="chart-requests"
                title={`Requests by status (${step})`}
                times={series.times}
                series={charts.requests}
                stacked
                summary={`${formatCount(totals.requests)} requests: ${formatCount(totals.status_2xx)} 2xx, ${formatCount(totals.status_3xx)} 3xx, ${formatCount(totals.status_4xx)} 4xx, ${formatCount(totals.status_5xx)} 5xx, ${formatCount(totals.status_other)} other.`}
              />
              <TimeChart
                testId="chart-errors"
                title="Error rate"
                unit="%"
                times={series.times}
                series={charts.errors}
                summary={`4xx ${percent(totals.status_4xx, totals.requests)}, 5xx ${percent(totals.status_5xx, totals.requests)} of all requests.`}
              />
              <TimeChart
                testId="chart-latency"
                title="Upstream latency"
                unit="ms"
                times={series.times}
                series={charts.latency}
                summary={totals.requests > 0 ? `Average ${formatMs(totals.upstream_avg_ms)}, longest ${formatMs(totals.upstream_max_ms)}.` : "No upstream answered in this range."}
              />
            </div>
          </div>
        )}
      </section>
      <section className="card" aria-labelledby="traffic-domains">
        <h2 id="traffic-domains" className="card-title">
          Domains
        </h2>
        <DataTable
          label="Traffic by domain"
          columns={domainColumns}
          rows={view?.domains}
          rowKey={(d) => `${d.server_id}/${d.domain}`}
          loading={loading}
          error={view ? null : error}
          onRetry={load}
          empty={<EmptyState title={f.domain ? "No traffic for this domain in this range" : "No domain had traffic in this range"} />}
        />
      </section>
      <section className="card" aria-labelledby="traffic-servers">
        <h2 id="traffic-servers" className="card-title">
          Collection
        </h2>
        <DataTable
          label="Collection status"
          columns={serverColumns}
          rows={servers.items}
          rowKey={(s) => s.server_id}
          loading={servers.loading}
          error={servers.error}
          onRetry={() => void servers.reload()}
          empty={
            <EmptyState title="No servers yet" icon="▤">
              <p>Traffic is collected from servers with the reverse proxy installed.</p>
            </EmptyState>
          }
        />
      </section>
    </>
  );
}

export default TrafficPage;
