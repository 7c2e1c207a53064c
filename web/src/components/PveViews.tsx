// Building blocks of the Proxmox pages: state badges, a connection test's
// report, a plan (VM → node, VMID, clone mode, every node's score, network
// changes) and a deployment's stands (per user, per VM).
import type { ReactNode } from "react";
import type { NodeScore, PlannedStand, PlannedVm, PvePlan, StandView, TestReport, VmView } from "../api/pve";
import { countsSummary, isMoving, pct, statusTone } from "../lib/pve";
import { plural } from "../lib/selection";
import { Badge } from "./Badge";
import { DataTable, type Column } from "./DataTable";

/** A deployment, stand or VM state: text and colour (never colour alone). */
export function PveStatusBadge({ status }: { status: string }) {
  return (
    <span className={`badge badge-${statusTone(status)}`} data-status={status}>
      {isMoving(status) ? <span className="pulse" aria-hidden="true" /> : null}
      {status}
    </span>
  );
}

/** A deployment's VM counts as badges: "2 ready", "1 failed". */
export function CountBadges({ counts }: { counts: Record<string, number> }) {
  const list = countsSummary(counts);
  if (list.length === 0) return <span className="muted small">no VMs</span>;
  return (
    <ul className="chip-list chip-list-tight" aria-label="VMs by state">
      {list.map((c) => (
        <li key={c.status}>
          <Badge tone={statusTone(c.status)}>
            {c.n} {c.status}
          </Badge>
        </li>
      ))}
    </ul>
  );
}

/** What "Test connection" found: reachable, version, quorum, nodes, missing privileges. */
export function TestReportView({ report }: { report: TestReport }) {
  const nodes = Object.entries(report.nodes);
  return (
    <div className="pve-test" data-ok={report.ok}>
      <div className="status-line">
        {report.ok ? <Badge tone="success">connection ok</Badge> : <Badge tone="danger">connection has problems</Badge>}
        {report.error ? <span className="text-danger break">{report.error}</span> : null}
      </div>
      <dl className="facts">
        <div>
          <dt>Proxmox VE version</dt>
          <dd data-testid="pve-version">{report.version ?? "—"}</dd>
        </div>
        <div>
          <dt>Quorum</dt>
          <dd>{report.quorate == null ? "—" : report.quorate ? <Badge tone="success">quorate</Badge> : <Badge tone="danger">no quorum</Badge>}</dd>
        </div>
        <div>
          <dt>Nodes online</dt>
          <dd>
            {report.nodes_online} of {report.nodes_total}
          </dd>
        </div>
        <div>
          <dt>Error kind</dt>
          <dd>{report.error_kind ?? "—"}</dd>
        </div>
        {nodes.length > 0 ? (
          <div className="facts-wide">
            <dt>Nodes</dt>
            <dd>
              <ul className="chip-list chip-list-tight" aria-label="Nodes">
                {nodes.map(([name, online]) => (
                  <li key={name}>
                    <Badge tone={online ? "success" : "danger"}>
                      {name}: {online ? "online" : "offline"}
                    </Badge>
                  </li>
                ))}
              </ul>
            </dd>
          </div>
        ) : null}
        <div className="facts-wide">
          <dt>Missing privileges</dt>
          <dd>
            {report.missing_privileges.length === 0 ? (
              <span className="muted">none</span>
            ) : (
              <ul className="chip-list chip-list-tight" aria-label="Missing privileges">
                {report.missing_privileges.map((p) => (
                  <li key={p} className="chip mono">
                    {p}
                  </li>
                ))}
              </ul>
            )}
          </dd>
        </div>
      </dl>
    </div>
  );
}

function Notes({ title, tone, items }: { title: string; tone: "warning" | "danger"; items: string[] }) {
  if (items.length === 0) return null;
  return (
    <div className={`notice notice-${tone}`} role="region" aria-label={title}>
      <strong>{title}</strong>
      <ul className="pve-notes">
        {items.map((w, i) => (
          <li key={i}>{w}</li>
        ))}
      </ul>
    </div>
  );
}

function CodeList({ items }: { items: string[] }) {
  return (
    <>
      {items.map((b, i) => (
        <span key={b}>
          {i ? ", " : null}
          <code>{b}</code>
        </span>
      ))}
    </>
  );
}

/** Every node's evaluation for one VM; the chosen node marked. */
export function ScoreTable({ vm }: { vm: PlannedVm }) {
  const columns: Column<NodeScore>[] = [
    {
      key: "node",
      header: "Node",
      render: (s) => (
        <span className="cell-inline">
          <span className="strong">{s.node}</span>
          {s.node === vm.node ? <Badge tone="accent">chosen</Badge> : null}
        </span>
      ),
    },
    { key: "mem", header: "Memory after", render: (s) => pct(s.mem_after) },
    { key: "cpu", header: "CPU after", render: (s) => pct(s.cpu_after) },
    { key: "score", header: "Score", render: (s) => <span className="mono">{s.excluded ? "—" : s.score.toFixed(3)}</span> },
    { key: "excluded", header: "Excluded", className: "col-wide", render: (s) => (s.excluded ? <span className="text-danger">{s.excluded}</span> : <span className="muted">—</span>) },
  ];
  return (
    <div className="pve-scores">
      <p className="muted small">Lower scores are better. {vm.notes.length ? vm.notes.join(" ") : null}</p>
      <DataTable label={`Node scores for ${vm.name}`} columns={columns} rows={vm.scores} rowKey={(s) => s.node} />
    </div>
  );
}

function PlannedStandTable({ stand }: { stand: PlannedStand }) {
  const columns: Column<PlannedVm>[] = [
    {
      key: "vm",
      header: "VM",
      render: (v) => (
        <div className="cell-server">
          <span className="strong">{v.name}</span>
          <span className="muted small">{v.key}</span>
        </div>
      ),
    },
    { key: "node", header: "Node", render: (v) => <span className="strong">{v.node}</span> },
    { key: "vmid", header: "VMID", render: (v) => <span className="mono">{v.vmid}</span> },
    {
      key: "clone",
      header: "Clone",
      render: (v) => (
        <div className="cell-status">
          <Badge tone={v.clone_mode === "full" ? "warning" : "info"}>{v.clone_mode}</Badge>
          <span className="muted small">
            from {v.template_vmid} on {v.template_node}
            {v.storage ? ` → ${v.storage}` : ""}
          </span>
        </div>
      ),
    },
    { key: "size", header: "Size", render: (v) => `${v.cores} ${v.cores === 1 ? "core" : "cores"}, ${v.memory_mib} MiB` },
    {
      key: "notes",
      header: "Notes",
      className: "col-wide",
      render: (v) => (v.notes.length ? <span className="small">{v.notes.join(" ")}</span> : <span className="muted">—</span>),
    },
  ];
  return (
    <section className="pve-stand" aria-label={`Plan for ${stand.user}`}>
      <h3 className="pve-stand-title">
        <span className="mono">{stand.user}</span> <span className="muted small">pool {stand.pool}</span>
      </h3>
      <DataTable
        label={`Plan for ${stand.user}`}
        columns={columns}
        rows={stand.vms}
        rowKey={(v) => v.key}
        renderExpanded={(v) => <ScoreTable vm={v} />}
        expandLabel={(v) => `Node scores for ${v.name}`}
      />
    </section>
  );
}

/** A whole plan: errors and warnings first, then per user, the network changes and the load per node. */
export function PlanView({ plan }: { plan: PvePlan }) {
  const vms = plan.stands.reduce((n, s) => n + s.vms.length, 0);
  const network = plan.network.filter((n) => n.create.length || n.make_vlan_aware.length);
  return (
    <div className="pve-plan" data-testid="pve-plan">
      <p className="muted">
        {plural(plan.stands.length, "user")}, {plural(vms, "VM")}, strategy <strong>{plan.strategy}</strong>.
      </p>
      <Notes title="Plan errors" tone="danger" items={plan.errors} />
      <Notes title="Warnings" tone="warning" items={plan.warnings} />
      {plan.stands.map((s) => (
        <PlannedStandTable key={s.user} stand={s} />
      ))}
      <div className="grid grid-2 pve-plan-extra">
        <section aria-labelledby="pve-plan-network">
          <h3 className="section-title" id="pve-plan-network">
            Network changes
          </h3>
          {network.length === 0 ? (
            <p className="muted small">None: every bridge and VLAN the VMs use exists.</p>
          ) : (
            <ul className="plain-list pve-network">
              {network.map((n) => (
                <li key={n.node}>
                  <span className="strong">{n.node}</span>:{" "}
                  {n.create.length ? (
                    <>
                      create <CodeList items={n.create} />
                    </>
                  ) : null}
                  {n.create.length && n.make_vlan_aware.length ? "; " : null}
                  {n.make_vlan_aware.length ? (
                    <>
                      make VLAN-aware <CodeList items={n.make_vlan_aware} />
                    </>
                  ) : null}
                </li>
              ))}
            </ul>
          )}
        </section>
        <section aria-labelledby="pve-plan-nodes">
          <h3 className="section-title" id="pve-plan-nodes">
            VMs per node
          </h3>
          <ul className="chip-list chip-list-tight" aria-labelledby="pve-plan-nodes">
            {Object.entries(plan.per_node).map(([node, n]) => (
              <li key={node} className="chip">
                {node}: {n}
              </li>
            ))}
          </ul>
        </section>
      </div>
    </div>
  );
}

/** One user's stand in a deployment: its state, error, and VMs. */
export function StandCard({ stand, actions }: { stand: StandView; actions?: ReactNode }) {
  const columns: Column<VmView>[] = [
    {
      key: "vm",
      header: "VM",
      render: (v) => (
        <div className="cell-server">
          <span className="strong">{v.name}</span>
          <span className="muted small">{v.key}</span>
        </div>
      ),
    },
    { key: "node", header: "Node", render: (v) => v.node },
    { key: "vmid", header: "VMID", render: (v) => <span className="mono">{v.vmid}</span> },
    { key: "clone", header: "Clone", render: (v) => v.clone_mode },
    {
      key: "status",
      header: "Status",
      className: "col-wide",
      render: (v) => (
        <div className="cell-status">
          <PveStatusBadge status={v.status} />
          {v.error ? <span className="small text-danger break">{v.error}</span> : null}
        </div>
      ),
    },
  ];
  return (
    <section className="pve-stand" aria-label={`Stand of ${stand.user}`} data-user={stand.user}>
      <div className="pve-stand-head">
        <h3 className="pve-stand-title">
          <span className="mono">{stand.user}</span> <span className="muted small">pool {stand.pool}</span>
        </h3>
        <PveStatusBadge status={stand.status} />
        {stand.user_created ? <Badge tone="info">user created by Gantry</Badge> : null}
        {stand.password_pending ? <Badge tone="warning">password not shown yet</Badge> : null}
        {actions ? <div className="pve-stand-actions">{actions}</div> : null}
      </div>
      {stand.error ? <p className="small text-danger break">{stand.error}</p> : null}
      <DataTable label={`VMs of ${stand.user}`} columns={columns} rows={stand.vms} rowKey={(v) => v.id} />
    </section>
  );
}
