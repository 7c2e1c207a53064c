import { useCallback } from "react";
import { api, call, type Job, type JobStatus } from "../api/client";
import { useEvents, type GantryEvent, type JobUpdate } from "../api/events";
import { JobStatusBadge } from "../components/Badge";
import { DataTable, listPagination, type Column } from "../components/DataTable";
import { SelectField, TextField } from "../components/Form";
import { JobDrawer } from "../components/JobDrawer";
import { ProgressBar } from "../components/JobProgress";
import { PageHeader } from "../components/Layout";
import { EmptyState } from "../components/States";
import { formatDateTime } from "../lib/format";
import { useCursorList, type CursorQuery } from "../lib/useCursorList";
import { useDebounced } from "../lib/useDebounced";
import { useUrlFilters } from "../lib/useUrlFilters";

const FILTERS = ["status", "kind", "job"] as const;
const STATUSES: JobStatus[] = ["queued", "running", "succeeded", "failed", "cancelled"];

type JobFilters = { status: string; kind: string };

function fetchJobs({ filters, cursor, limit }: CursorQuery<JobFilters>) {
  return call(
    api.GET("/api/v1/jobs", {
      params: { query: { status: (filters.status || undefined) as JobStatus | undefined, kind: filters.kind || undefined, cursor, limit } },
    }),
  );
}

export function JobsPage() {
  const [f, setF] = useUrlFilters(FILTERS);
  const kind = useDebounced(f.kind.trim());
  const list = useCursorList<Job, JobFilters>(fetchJobs, { status: f.status, kind }, 25);
  const openId = f.job ? Number(f.job) : null;

  const { updateItem, reload, items } = list;
  const onEvent = useCallback(
    (e: GantryEvent) => {
      const p = e.payload as JobUpdate;
      if (items?.some((j) => j.id === p.job_id)) {
        updateItem((j) => j.id === p.job_id, (j) => ({ ...j, status: p.status, progress: p.progress, message: p.message ?? j.message }));
      } else if (list.page === 1) {
        reload();
      }
    },
    [items, updateItem, reload, list.page],
  );
  useEvents("job.", onEvent);

  const columns: Column<Job>[] = [
    { key: "id", header: "Job", render: (j) => <span className="mono">#{j.id}</span> },
    { key: "kind", header: "Kind", render: (j) => <span className="mono">{j.kind}</span> },
    { key: "status", header: "Status", render: (j) => <JobStatusBadge status={j.status} /> },
    {
      key: "progress",
      header: "Progress",
      className: "col-progress",
      render: (j) => (
        <div className="inline-progress">
          <ProgressBar value={j.progress} status={j.status} label={`Job ${j.id} progress`} />
          <span className="small muted">{j.progress}%</span>
        </div>
      ),
    },
    { key: "message", header: "Latest message", className: "col-wide", render: (j) => <span className="truncate">{j.error ?? j.message ?? "—"}</span> },
    { key: "created", header: "Created", render: (j) => formatDateTime(j.created_at) },
    {
      key: "open",
      header: <span className="sr-only">Actions</span>,
      className: "col-actions",
      render: (j) => (
        <button type="button" className="btn btn-secondary btn-sm" onClick={() => setF({ job: String(j.id) })} aria-label={`Open job ${j.id}`}>
          Open
        </button>
      ),
    },
  ];

  const filtered = Boolean(f.status || f.kind);
  return (
    <>
      <PageHeader title="Jobs" description="Long-running operations. Progress updates live." />
      <div className="card">
        <form className="filters" role="search" aria-label="Filter jobs" onSubmit={(e) => e.preventDefault()}>
          <SelectField
            label="Status"
            name="status"
            value={f.status}
            onChange={(e) => setF({ status: e.target.value })}
            options={[{ value: "", label: "Any status" }, ...STATUSES.map((s) => ({ value: s, label: s }))]}
          />
          <TextField label="Kind" name="kind" placeholder="e.g. system.selfcheck" value={f.kind} onChange={(e) => setF({ kind: e.target.value })} />
          {filtered ? (
            <button type="button" className="btn btn-ghost filters-clear" onClick={() => setF({ status: "", kind: "" })}>
              Clear filters
            </button>
          ) : null}
        </form>
        <DataTable
          label="Jobs"
          columns={columns}
          rows={list.items}
          rowKey={(j) => j.id}
          loading={list.loading}
          error={list.error}
          onRetry={list.reload}
          onRowClick={(j) => setF({ job: String(j.id) })}
          rowLabel={(j) => `Job ${j.id}, ${j.kind}, ${j.status}`}
          empty={
            filtered ? (
              <EmptyState title="No jobs match these filters" />
            ) : (
              <EmptyState title="No jobs yet" icon="⟳">
                <p>Jobs appear here when someone starts a long operation, e.g. a self-check from the dashboard.</p>
              </EmptyState>
            )
          }
          pagination={listPagination(list)}
        />
      </div>
      <JobDrawer jobId={openId} initial={items?.find((j) => j.id === openId) ?? null} onClose={() => setF({ job: "" })} />
    </>
  );
}
