// A domain group (/domains/groups/:id): its settings (name, description,
// server binding, manual approval, automatic drift repair), its domains, import/export, and delete.
import { useCallback, useEffect, useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { hasRole, ifMatch, isApiError } from "../api/client";
import { allGroups, allServers, exportUrl, getGroup, patchGroup } from "../api/domains";
import type { DomainGroup } from "../api/domainTypes";
import { useEvents } from "../api/events";
import { useMe } from "../auth/AuthContext";
import { Badge } from "../components/Badge";
import { ConflictDialog } from "../components/ConflictDialog";
import { DomainList } from "../components/DomainList";
import { CheckboxField, FormError, SelectField, TextAreaField, TextField, useFormErrors } from "../components/Form";
import { DeleteGroupDialog, GROUP_FIELDS, serverOptions } from "../components/GroupDialogs";
import { ImportDialog } from "../components/ImportDialog";
import { importSummary } from "../components/ImportReport";
import { PageHeader } from "../components/Layout";
import { ErrorState, Loading } from "../components/States";
import { useToast } from "../components/Toasts";
import { formatDateTime } from "../lib/format";

interface GroupValues {
  name: string;
  description: string;
  server_id: string;
  manual_approval: boolean;
  auto_repair: boolean;
}

function valuesOf(g: DomainGroup): GroupValues {
  return { name: g.name, description: g.description, server_id: g.server ? String(g.server.id) : "", manual_approval: g.manual_approval, auto_repair: g.auto_repair };
}

export function DomainGroupPage() {
  const { id } = useParams();
  const groupId = Number(id);
  const me = useMe();
  const canManage = hasRole(me.role, "operator");
  const toast = useToast();
  const navigate = useNavigate();
  const form = useFormErrors(GROUP_FIELDS);
  const [current, setCurrent] = useState<{ group: DomainGroup; etag: string } | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [v, setV] = useState<GroupValues | null>(null);
  const [servers, setServers] = useState<{ id: number; name: string }[]>([]);
  const [groups, setGroups] = useState<DomainGroup[]>([]);
  const [busy, setBusy] = useState(false);
  const [conflict, setConflict] = useState(false);
  const [importing, setImporting] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [refreshKey, setRefreshKey] = useState(0);

  const load = useCallback(
    async (resetForm: boolean) => {
      setLoadError(null);
      try {
        const { data, response } = await getGroup(groupId);
        setCurrent({ group: data, etag: response.headers.get("etag") ?? ifMatch(data.version) });
        if (resetForm) setV(valuesOf(data));
      } catch (e) {
        setLoadError(e);
      }
    },
    [groupId],
  );

  useEffect(() => {
    setCurrent(null);
    form.clear();
    void load(true);
    allServers().then(setServers, () => setServers([]));
    allGroups().then(setGroups, () => setGroups([]));
  }, [load]);

  // Another change to this group (or its domains' count): re-read it, keeping unsaved edits.
  // Not while it is being deleted: the delete's own events would re-read a group that is gone.
  const deletingRef = useRef(false);
  useEvents("domain_group.", () => void (deletingRef.current || load(false)));
  useEvents("domain.", () => void (deletingRef.current || load(false)));

  async function save(e: React.FormEvent) {
    e.preventDefault();
    if (!current || !v) return;
    setBusy(true);
    form.clear();
    const g = current.group;
    const body: Parameters<typeof patchGroup>[2] = {};
    if (v.name.trim() !== g.name) body.name = v.name.trim();
    if (v.description !== g.description) body.description = v.description;
    if (v.server_id !== (g.server ? String(g.server.id) : "")) body.server_id = v.server_id ? Number(v.server_id) : null;
    if (v.manual_approval !== g.manual_approval) body.manual_approval = v.manual_approval;
    if (v.auto_repair !== g.auto_repair) body.auto_repair = v.auto_repair;
    try {
      const { data, response } = await patchGroup(g.id, current.etag, body);
      setCurrent({ group: data, etag: response.headers.get("etag") ?? ifMatch(data.version) });
      setV(valuesOf(data));
      toast.success(`Group “${data.name}” saved`);
    } catch (err) {
      if (isApiError(err) && err.code === "stale") setConflict(true);
      else form.setError(err);
    } finally {
      setBusy(false);
    }
  }

  if (!current || !v) {
    return (
      <>
        <PageHeader title="Domain group" />
        <div className="card">{loadError ? <ErrorState error={loadError} onRetry={() => void load(true)} title="Could not load the group" /> : <Loading label="Loading group…" />}</div>
      </>
    );
  }

  const g = current.group;
  const dirty = JSON.stringify(v) !== JSON.stringify(valuesOf(g));
  return (
    <>
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/domains">Domains</Link>
        <span aria-hidden="true"> / </span>
        <span aria-current="page">{g.name}</span>
      </nav>
      <PageHeader
        title={g.name}
        description={
          <>
            {g.server ? (
              <>
                Served by <Link to={`/servers/${g.server.id}`}>{g.server.name}</Link>
              </>
            ) : (
              "Not bound to a server"
            )}
            {" · "}
            {g.domain_count} domain{g.domain_count === 1 ? "" : "s"}
            {g.manual_approval ? (
              <>
                {" · "}
                <Badge tone="warning">manual approval</Badge>
              </>
            ) : null}
            {g.auto_repair ? (
              <>
                {" · "}
                <Badge tone="info">auto repair</Badge>
              </>
            ) : null}
          </>
        }
        actions={
          <>
            {canManage ? (
              <Link to={`/domains/new?group=${g.id}`} className="btn btn-primary">
                Add domain
              </Link>
            ) : null}
            {canManage ? (
              <button type="button" className="btn btn-secondary" onClick={() => setImporting(true)}>
                Import
              </button>
            ) : null}
            <a className="btn btn-secondary" href={exportUrl(g.id, "yaml")} download={`${g.name}.yaml`}>
              Export YAML
            </a>
            <a className="btn btn-secondary" href={exportUrl(g.id, "csv")} download={`${g.name}.csv`}>
              Export CSV
            </a>
            {canManage ? (
              <button type="button" className="btn btn-danger-outline" onClick={() => setDeleting(true)}>
                Delete group
              </button>
            ) : null}
          </>
        }
      />

      <section className="card" aria-labelledby="gp-settings">
        <h2 className="card-title" id="gp-settings">
          Settings
        </h2>
        <form id="group-settings" onSubmit={save} noValidate aria-label="Group settings">
          <fieldset disabled={!canManage} className="kv-editor">
            <legend className="sr-only">Group settings</legend>
            <div className="form-grid">
              <TextField label="Name" name="name" required autoComplete="off" value={v.name} onChange={(e) => setV({ ...v, name: e.target.value })} error={form.fieldError("name")} />
              <SelectField
                label="Server"
                name="server_id"
                hint="Moving the group moves all its domains to that server's reverse proxy."
                value={v.server_id}
                onChange={(e) => setV({ ...v, server_id: e.target.value })}
                options={serverOptions(g.server && !servers.some((s) => s.id === g.server!.id) ? [...servers, g.server] : servers)}
                error={form.fieldError("server_id")}
              />
            </div>
            <TextAreaField label="Description" name="description" rows={2} value={v.description} onChange={(e) => setV({ ...v, description: e.target.value })} error={form.fieldError("description")} />
            <CheckboxField
              label="Manual approval"
              name="manual_approval"
              hint="Changes to this group's domains wait as a pending plan until an operator applies them."
              checked={v.manual_approval}
              onChange={(e) => setV({ ...v, manual_approval: e.target.checked })}
              error={form.fieldError("manual_approval")}
            />
            <CheckboxField
              label="Repair drift automatically"
              name="auto_repair"
              hint="When a drift check finds hand edits of this group's configuration on the server, Gantry re-applies it by itself."
              checked={v.auto_repair}
              onChange={(e) => setV({ ...v, auto_repair: e.target.checked })}
              error={form.fieldError("auto_repair")}
            />
          </fieldset>
          <FormError message={form.formMessage} />
          {canManage ? (
            <div className="form-actions">
              <span className="muted small">
                Version {g.version} · last changed {formatDateTime(g.updated_at)}
              </span>
              <button type="button" className="btn btn-secondary" disabled={!dirty || busy} onClick={() => { form.clear(); setV(valuesOf(g)); }}>
                Reset
              </button>
              <button type="submit" className="btn btn-primary" disabled={!dirty || busy}>
                {busy ? "Saving…" : "Save group"}
              </button>
            </div>
          ) : null}
        </form>
      </section>

      <section className="card" aria-labelledby="gp-domains">
        <h2 className="card-title" id="gp-domains">
          Domains
        </h2>
        <DomainList groupId={g.id} groups={groups} onChanged={() => void load(false)} refreshKey={refreshKey} />
      </section>

      <ImportDialog
        open={importing}
        groupId={g.id}
        groupName={g.name}
        onClose={() => setImporting(false)}
        onApplied={(r) => {
          setImporting(false);
          toast.success(importSummary(r));
          setRefreshKey((k) => k + 1);
          void load(false);
        }}
      />
      <DeleteGroupDialog
        open={deleting}
        group={g}
        groups={groups}
        onClose={() => setDeleting(false)}
        onDeleting={(inFlight) => {
          deletingRef.current = inFlight;
        }}
        onDeleted={() => {
          toast.success(`Group “${g.name}” deleted`);
          navigate("/domains");
        }}
      />
      <ConflictDialog
        open={conflict}
        what={`group “${g.name}”`}
        onClose={() => setConflict(false)}
        onReload={() => {
          setConflict(false);
          form.clear();
          void load(true);
        }}
      />
    </>
  );
}
