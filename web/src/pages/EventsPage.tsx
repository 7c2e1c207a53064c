// The event log (/monitoring/events): what happened in the fleet, newest
// first. Filters live in the URL; "Load more" follows the API's cursors;
// "Follow live" prepends the entries `event.recorded` announces that match
// the same filters (checked in the browser). Each entry links to its entity
// and job; its details expand as JSON. Admins also get the log level.
import { useEffect, useMemo, useRef, useState } from "react";
import { Link } from "react-router";
import { hasRole, isApiError, type ApiError } from "../api/client";
import { useEvents } from "../api/events";
import { listEvents, type EventLogEntry } from "../api/monitoring";
import { useMe } from "../auth/AuthContext";
import { DataTable, type Column } from "../components/DataTable";
import { SelectField, TextField } from "../components/Form";
import { JobDrawer } from "../components/JobDrawer";
import { PageHeader } from "../components/Layout";
import { LogLevelCard } from "../components/LogLevelCard";
import { SeverityBadge } from "../components/MonitoringBadges";
import { LoadMoreFooter } from "../components/LoadMoreFooter";
import { EmptyState } from "../components/States";
import { formatDateTime, formatRelative, localInputToRfc3339 } from "../lib/format";
import {
  effectiveRange,
  ENTITY_TYPES,
  entityTarget,
  EVENT_FILTERS,
  EVENT_MODULES,
  eventFiltersActive,
  eventQuery,
  isoToLocalInput,
  matchesEventFilters,
  mergeNewest,
  parseModules,
  RANGES,
  type EventFilters,
} from "../lib/monitoring";
import { useDebounced } from "../lib/useDebounced";
import { useLoadMoreList } from "../lib/useLoadMoreList";
import { useUrlFilters } from "../lib/useUrlFilters";

const PAGE_SIZE = 50;

/** The filter fields this page shows; a 422 naming another field goes to the banner. */
const SHOWN_FIELDS = ["module", "severity", "kind", "entity_type", "entity_id", "job_id", "q", "since", "until"];

function fetchEvents(filters: EventFilters, cursor: string | undefined, limit: number) {
  return listEvents({ ...eventQuery(filters), cursor, limit });
}

export function EventsPage() {
  const me = useMe();
  const isAdmin = hasRole(me.role, "admin");
  const [f, setF] = useUrlFilters(EVENT_FILTERS);
  // Typed filters reach the API 300 ms after the last keystroke.
  const textKey = useDebounced(JSON.stringify([f.q, f.kind, f.entity_id]));
  const [q, kind, entity_id] = JSON.parse(textKey) as string[];
  const filters: EventFilters = useMemo(
    () => ({ ...f, q, kind, entity_id }),
    [f.module, f.severity, f.entity_type, f.job_id, f.range, f.since, f.until, q, kind, entity_id],
  );
  const list = useLoadMoreList(fetchEvents, filters, PAGE_SIZE);
  const [follow, setFollow] = useState(true);
  const [fresh, setFresh] = useState<ReadonlySet<number>>(new Set());
  const [missed, setMissed] = useState(0);
  const [openJob, setOpenJob] = useState<number | null>(null);

  // New filters: what arrived for the old ones no longer counts.
  const filterKey = JSON.stringify(filters);
  useEffect(() => {
    setFresh(new Set());
    setMissed(0);
  }, [filterKey]);

  const validation = isApiError(list.error) && list.error.status === 422 ? (list.error as ApiError) : null;
  const listState = useRef({ ready: false, follow });
  listState.current = { ready: Boolean(list.items) && !list.error, follow };

  const { setItems, refresh } = list;
  useEvents("event.recorded", (e) => {
    const entry = e.payload as EventLogEntry;
    if (!entry || typeof entry.id !== "number" || typeof entry.message !== "string") return;
    if (!listState.current.ready || !matchesEventFilters(entry, filters)) return;
    if (!listState.current.follow) {
      setMissed((n) => n + 1);
      return;
    }
    setItems((items) => mergeNewest(items, [entry]));
    setFresh((s) => new Set(s).add(entry.id));
  });

  function toggleFollow(on: boolean) {
    setFollow(on);
    if (on && missed > 0) {
      setMissed(0);
      refresh();
    }
  }

  const fieldError = (field: string) => validation?.fieldError(field);
  const unshown = validation ? validation.errors.filter((e) => !SHOWN_FIELDS.includes(e.field)) : [];
  const range = effectiveRange(f);
  const modules = parseModules(f.module);
  const filtered = eventFiltersActive(f);

  function toggleModule(m: string, on: boolean) {
    const next = on ? [...modules, m] : modules.filter((x) => x !== m);
    setF({ module: EVENT_MODULES.map((x) => x.value).filter((x) => next.includes(x)).concat(next.filter((x) => !EVENT_MODULES.some((y) => y.value === x))).join(",") });
  }

  function setRange(value: string) {
    if (value === "custom") setF({ range: "custom" });
    else setF({ range: value, since: "", until: "" });
  }

  const columns: Column<EventLogEntry>[] = [
    {
      key: "at",
      header: "Time",
      render: (e) => (
        <time dateTime={e.at} title={formatRelative(e.at)} className="nowrap">
          {formatDateTime(e.at)}
        </time>
      ),
    },
    { key: "severity", header: "Severity", render: (e) => <SeverityBadge severity={e.severity} /> },
    { key: "module", header: "Module", render: (e) => <span className="mono small">{e.module}</span> },
    {
      key: "message",
      header: "Event",
      className: "col-wide",
      render: (e) => (
        <div className="cell-event">
          <span className="event-message">{e.message}</span>
          <code className="action-code">{e.kind}</code>
        </div>
      ),
    },
    { key: "entity", header: "About", render: (e) => <EntityCell entry={e} isAdmin={isAdmin} onOpenJob={setOpenJob} /> },
    {
      key: "job",
      header: "Job",
      render: (e) =>
        e.job_id != null ? (
          <button type="button" className="btn btn-ghost btn-sm btn-inline mono" onClick={() => setOpenJob(e.job_id!)} aria-label={`Open job ${e.job_id}`}>
            #{e.job_id}
          </button>
        ) : (
          <span className="muted">—</span>
        ),
    },
  ];

  const items = validation ? [] : list.items;
  return (
    <>
      <PageHeader title="Events" description="What happened in the fleet, newest first: servers going down, applies, renewals, deployments, sign-ins." />
      <div className="card">
        <form className="filters" role="search" aria-label="Filter events" onSubmit={(e) => e.preventDefault()}>
          <fieldset className={`field filters-wide${fieldError("module") ? " field-invalid" : ""}`} aria-describedby={fieldError("module") ? "ev-module-error" : undefined}>
            <legend className="field-label">Modules</legend>
            <div className="check-chips">
              {EVENT_MODULES.map((m) => (
                <label key={m.value} className={`check-chip${modules.includes(m.value) ? " check-chip-on" : ""}`}>
                  <input type="checkbox" name="module" value={m.value} checked={modules.includes(m.value)} onChange={(e) => toggleModule(m.value, e.target.checked)} />
                  {m.label}
                </label>
              ))}
              {modules
                .filter((m) => !EVENT_MODULES.some((x) => x.value === m))
                .map((m) => (
                  <label key={m} className="check-chip check-chip-on">
                    <input type="checkbox" name="module" value={m} checked onChange={() => toggleModule(m, false)} />
                    {m}
                  </label>
                ))}
            </div>
            {fieldError("module") ? (
              <p id="ev-module-error" className="field-error">
                {fieldError("module")}
              </p>
            ) : null}
          </fieldset>
          <SelectField
            label="Severity"
            name="severity"
            value={f.severity}
            onChange={(e) => setF({ severity: e.target.value })}
            error={fieldError("severity")}
            options={[
              { value: "", label: "Any severity" },
              { value: "warning", label: "Warnings and errors" },
              { value: "error", label: "Errors only" },
              ...(f.severity && !["warning", "error"].includes(f.severity) ? [{ value: f.severity, label: f.severity }] : []),
            ]}
          />
          <TextField label="Search" name="q" type="search" placeholder="message, name or kind" value={f.q} onChange={(e) => setF({ q: e.target.value })} error={fieldError("q")} />
          <TextField label="Kind" name="kind" placeholder="server.down or proxy." value={f.kind} onChange={(e) => setF({ kind: e.target.value })} error={fieldError("kind")} />
          <SelectField
            label="Entity type"
            name="entity_type"
            value={f.entity_type}
            onChange={(e) => setF({ entity_type: e.target.value })}
            error={fieldError("entity_type")}
            options={[
              { value: "", label: "Any entity" },
              ...ENTITY_TYPES,
              ...(f.entity_type && !ENTITY_TYPES.some((t) => t.value === f.entity_type) ? [{ value: f.entity_type, label: f.entity_type }] : []),
            ]}
          />
          <TextField label="Entity id" name="entity_id" placeholder="e.g. 42" value={f.entity_id} onChange={(e) => setF({ entity_id: e.target.value })} error={fieldError("entity_id")} />
          <SelectField
            label="Time range"
            name="range"
            value={range}
            onChange={(e) => setRange(e.target.value)}
            error={range !== "custom" ? fieldError("since") : undefined}
            options={[{ value: "", label: "All time" }, ...RANGES.map((r) => ({ value: r.value, label: r.label })), { value: "custom", label: "Custom range…" }]}
          />
          {range === "custom" ? (
            <>
              <TextField
                label="From"
                name="since"
                type="datetime-local"
                value={isoToLocalInput(f.since)}
                onChange={(e) => setF({ since: localInputToRfc3339(e.target.value) ?? "" })}
                error={fieldError("since")}
              />
              <TextField
                label="Until"
                name="until"
                type="datetime-local"
                value={isoToLocalInput(f.until)}
                onChange={(e) => setF({ until: localInputToRfc3339(e.target.value) ?? "" })}
                error={fieldError("until")}
              />
            </>
          ) : null}
          {f.job_id ? (
            <div className="field">
              <span className="field-label">Job</span>
              <span className="chip chip-removable">
                #{f.job_id}
                <button type="button" className="chip-remove" aria-label={`Stop filtering by job ${f.job_id}`} onClick={() => setF({ job_id: "" })}>
                  ×
                </button>
              </span>
              {fieldError("job_id") ? <p className="field-error">{fieldError("job_id")}</p> : null}
            </div>
          ) : null}
          {filtered ? (
            <button
              type="button"
              className="btn btn-ghost filters-clear"
              onClick={() => setF(Object.fromEntries(EVENT_FILTERS.map((k) => [k, ""])) as Partial<EventFilters>)}
            >
              Clear filters
            </button>
          ) : null}
        </form>
        <div className="list-toolbar">
          <label className="switch">
            <input type="checkbox" role="switch" checked={follow} onChange={(e) => toggleFollow(e.target.checked)} />
            <span>Follow live</span>
          </label>
          <span className="muted small" aria-live="polite">
            {follow ? "New entries that match appear at the top." : missed > 0 ? `${missed} new matching ${missed === 1 ? "entry" : "entries"} while paused.` : "Paused."}
          </span>
          {!follow && missed > 0 ? (
            <button type="button" className="btn btn-secondary btn-sm" onClick={() => toggleFollow(true)}>
              Show new entries
            </button>
          ) : null}
        </div>
        {validation ? (
          <p className="form-error" role="alert">
            {unshown.length > 0 ? unshown.map((e) => `${e.field}: ${e.message}`).join("; ") : "Check the highlighted filters."}
          </p>
        ) : null}
        <DataTable
          label="Events"
          columns={columns}
          rows={items}
          rowKey={(e) => e.id}
          loading={list.loading}
          error={validation ? null : list.error}
          onRetry={list.reload}
          rowClassName={(e) => (fresh.has(e.id) ? "row-new" : undefined)}
          renderExpanded={(e) => <EventDetails entry={e} />}
          expandLabel={(e) => `Details of ${e.kind} #${e.id}`}
          empty={
            validation ? (
              <EmptyState title="These filters are not valid" icon="!">
                <p>Correct the highlighted filters to see entries.</p>
              </EmptyState>
            ) : filtered ? (
              <EmptyState title="No events match these filters" />
            ) : (
              <EmptyState title="No events yet" icon="∿">
                <p>Entries appear here when something happens: a server check fails, a proxy applies, a certificate renews, someone signs in.</p>
              </EmptyState>
            )
          }
        />
        {items && items.length > 0 ? (
          <LoadMoreFooter
            list={list}
            label="More events"
            loadingLabel="Loading events"
            summary={`${items.length} ${items.length === 1 ? "entry" : "entries"} shown${list.hasMore ? "; older ones below" : ""}`}
          />
        ) : null}
      </div>
      {isAdmin ? <LogLevelCard /> : null}
      <JobDrawer jobId={openJob} onClose={() => setOpenJob(null)} />
    </>
  );
}

function EntityCell({ entry, isAdmin, onOpenJob }: { entry: EventLogEntry; isAdmin: boolean; onOpenJob: (id: number) => void }) {
  if (!entry.entity_type) return <span className="muted">—</span>;
  const name = entry.entity_name || `${entry.entity_type} ${entry.entity_id ?? ""}`.trim();
  const target = entityTarget(entry, isAdmin);
  const type = <span className="muted small">{ENTITY_TYPES.find((t) => t.value === entry.entity_type)?.label ?? entry.entity_type}</span>;
  return (
    <div className="cell-server">
      {target?.kind === "link" ? (
        <Link to={target.href} className="table-link strong">
          {name}
        </Link>
      ) : target?.kind === "job" ? (
        <button type="button" className="btn btn-ghost btn-sm btn-inline" onClick={() => onOpenJob(target.id)} aria-label={`Open job ${target.id}`}>
          {name}
        </button>
      ) : (
        <span className="strong">{name}</span>
      )}
      {type}
    </div>
  );
}

function EventDetails({ entry }: { entry: EventLogEntry }) {
  const hasDetails = entry.details != null && !(typeof entry.details === "object" && Object.keys(entry.details as object).length === 0);
  return (
    <div className="audit-detail" data-testid={`event-${entry.id}-details`}>
      {hasDetails ? <pre className="code-block">{JSON.stringify(entry.details, null, 2)}</pre> : <p className="muted small">No details recorded.</p>}
      <p className="muted small">
        Entry #{entry.id} · {entry.module} · <code>{entry.kind}</code>
        {entry.entity_type ? (
          <>
            {" "}
            · {entry.entity_type} {entry.entity_id}
          </>
        ) : null}
        {" · "}
        <Link to={`/monitoring/events?${new URLSearchParams(entry.entity_type && entry.entity_id ? { entity_type: entry.entity_type, entity_id: entry.entity_id } : { kind: entry.kind })}`}>
          {entry.entity_type && entry.entity_id ? "More about this entity" : "More of this kind"}
        </Link>
      </p>
    </div>
  );
}
