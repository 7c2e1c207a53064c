// Add a domain (/domains/new?group=…) or edit one (/domains/:id/edit): name,
// target, aliases, TLS (mode, certificate, redirect, HSTS, HTTP/2, profile;
// when editing also the served certificate and "Issue certificate now"),
// options and path routes, with the API's field errors next to each input
// (also indexed ones: `aliases[1]`, `routes[0].path`).
import { useCallback, useEffect, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";
import { ifMatch, isApiError } from "../api/client";
import { allGroups, createDomain, deleteDomain, getDomain, patchDomain } from "../api/domains";
import type { Domain, DomainGroup } from "../api/domainTypes";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { ConflictDialog } from "../components/ConflictDialog";
import { DomainLive } from "../components/DomainLive";
import { DomainTlsFields, DomainTlsState, useDomainTlsData } from "../components/DomainTls";
import { CheckboxField, FormError, SelectField, TextField, indexedField, useFormErrors } from "../components/Form";
import { KeyValueEditor } from "../components/KeyValueEditor";
import { ListEditor } from "../components/ListEditor";
import { PageHeader } from "../components/Layout";
import { RouteEditor } from "../components/RouteEditor";
import { ErrorState, Loading } from "../components/States";
import { useToast } from "../components/Toasts";
import { DOMAIN_FORM_FIELDS, domainBody, emptyDomainForm, formFromDomain, type DomainFormValues } from "../lib/domainForm";
import { formatDateTime } from "../lib/format";

/** The Unicode form of an ASCII (punycode) name, when the browser can tell. */
export function unicodeHint(d: Domain | null, typed: string): string | null {
  if (d && d.name_unicode && d.name_unicode !== d.name) return `Stored as ${d.name}`;
  const t = typed.trim();
  if (t && /[^\x00-\x7f]/.test(t)) {
    try {
      const ascii = new URL(`http://${t}`).hostname;
      if (ascii && ascii !== t) return `Stored as ${ascii}`;
    } catch {
      /* the API will say what is wrong */
    }
  }
  return null;
}

export function DomainFormPage() {
  const { id } = useParams();
  const [params] = useSearchParams();
  const domainId = id ? Number(id) : null;
  const editing = domainId != null;
  const navigate = useNavigate();
  const toast = useToast();
  const form = useFormErrors(DOMAIN_FORM_FIELDS);
  const [v, setV] = useState<DomainFormValues>(() => emptyDomainForm(params.get("group") ?? ""));
  const [current, setCurrent] = useState<{ domain: Domain; etag: string } | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [groups, setGroups] = useState<DomainGroup[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [conflict, setConflict] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const tlsData = useDomainTlsData(domainId);

  const set = <K extends keyof DomainFormValues>(k: K, value: DomainFormValues[K]) => setV((prev) => ({ ...prev, [k]: value }));

  const load = useCallback(async (did: number) => {
    setLoadError(null);
    try {
      const { data, response } = await getDomain(did);
      setCurrent({ domain: data, etag: response.headers.get("etag") ?? ifMatch(data.version) });
      setV(formFromDomain(data));
    } catch (e) {
      setLoadError(e);
    }
  }, []);

  useEffect(() => {
    form.clear();
    if (domainId != null) void load(domainId);
    allGroups().then(setGroups, () => setGroups([]));
  }, [domainId, load]);

  const groupId = Number(v.group_id) || null;
  const group = groups?.find((g) => g.id === groupId) ?? null;
  const back = group ? `/domains/groups/${group.id}` : "/domains";

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    form.clear();
    try {
      const body = domainBody(v);
      const saved = editing && current ? await patchDomain(current.domain.id, current.etag, body) : await createDomain(body);
      toast.success(`Domain “${saved.name_unicode || saved.name}” ${editing ? "saved" : "added"}`);
      navigate(`/domains/groups/${saved.group.id}`);
    } catch (err) {
      if (isApiError(err) && err.code === "stale") setConflict(true);
      else form.setError(err);
    } finally {
      setBusy(false);
    }
  }

  const title = editing ? `Edit domain “${current?.domain.name_unicode || current?.domain.name || ""}”` : "Add domain";

  if (editing && !current) {
    return (
      <>
        <PageHeader title="Edit domain" />
        <div className="card">{loadError ? <ErrorState error={loadError} onRetry={() => void load(domainId)} title="Could not load the domain" /> : <Loading label="Loading domain…" />}</div>
      </>
    );
  }

  const fe = form.fieldError;
  const opt = (name: string) => fe(`options.${name}`);
  const groupOptions = [
    { value: "", label: groups ? "Choose a group…" : "Loading groups…" },
    ...(groups ?? []).map((g) => ({ value: String(g.id), label: g.server ? `${g.name} (${g.server.name})` : `${g.name} (no server)` })),
  ];

  return (
    <>
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/domains">Domains</Link>
        {group ? (
          <>
            <span aria-hidden="true"> / </span>
            <Link to={`/domains/groups/${group.id}`}>{group.name}</Link>
          </>
        ) : null}
        <span aria-hidden="true"> / </span>
        <span aria-current="page">{editing ? current?.domain.name_unicode || current?.domain.name : "New domain"}</span>
      </nav>
      <PageHeader
        title={title}
        description={editing ? "Change where the reverse proxy sends this domain's requests." : "A name the group's server answers for, and where its requests go."}
        actions={
          editing ? (
            <button type="button" className="btn btn-danger-outline" onClick={() => setDeleting(true)}>
              Delete domain
            </button>
          ) : null
        }
      />
      <form id="domain-form" className="server-form" onSubmit={submit} noValidate aria-label={title}>
        {editing && current ? (
          <div className="form-meta">
            <p className="muted small">
              Version {current.domain.version} · last changed {formatDateTime(current.domain.updated_at)}
            </p>
            <DomainLive domainId={current.domain.id} serverName={current.domain.server?.name} />
          </div>
        ) : null}
        <section className="card" aria-labelledby="df-target">
          <h2 className="card-title" id="df-target">
            Name and target
          </h2>
          <div className="form-grid">
            <SelectField label="Group" name="group_id" required value={v.group_id} onChange={(e) => set("group_id", e.target.value)} options={groupOptions} error={fe("group_id")} hint="The group's server serves the domain." />
            <TextField
              label="Name"
              name="name"
              required
              autoComplete="off"
              spellCheck={false}
              placeholder="shop.example.com"
              hint={unicodeHint(current?.domain ?? null, v.name) ?? "Internationalized names are accepted and stored in their ASCII form."}
              value={v.name}
              onChange={(e) => set("name", e.target.value)}
              error={fe("name")}
            />
            <TextField label="Target IP" name="target_ip" required autoComplete="off" className="input mono" placeholder="10.0.0.5" value={v.target_ip} onChange={(e) => set("target_ip", e.target.value)} error={fe("target_ip")} />
            <TextField label="Target port" name="target_port" inputMode="numeric" autoComplete="off" value={v.target_port} onChange={(e) => set("target_port", e.target.value)} error={fe("target_port")} />
            <SelectField
              label="Scheme"
              name="scheme"
              value={v.scheme}
              onChange={(e) => set("scheme", e.target.value as DomainFormValues["scheme"])}
              options={[
                { value: "http", label: "http" },
                { value: "https", label: "https" },
              ]}
              hint="How the proxy talks to the target."
              error={fe("scheme")}
            />
          </div>
          <CheckboxField label="Enabled" name="enabled" hint="A disabled domain keeps its settings but is not served." checked={v.enabled} onChange={(e) => set("enabled", e.target.checked)} error={fe("enabled")} />
          <ListEditor
            legend="Aliases"
            hint="Other names served the same way, e.g. www.shop.example.com."
            rows={v.aliases}
            onChange={(rows) => set("aliases", rows)}
            rowError={(i) => form.itemError("aliases", i)}
            error={fe("aliases")}
            placeholder="www.example.com"
            addLabel="Add alias"
          />
        </section>

        <section className="card" aria-labelledby="df-tls" data-testid="domain-tls-section">
          <h2 className="card-title" id="df-tls">
            TLS
          </h2>
          {editing && current ? (
            <DomainTlsState
              domainId={current.domain.id}
              domainName={current.domain.name_unicode || current.domain.name}
              savedMode={current.domain.options.tls ?? "none"}
              formMode={v.tls}
              data={tlsData}
            />
          ) : null}
          <DomainTlsFields v={v} set={set} opt={opt} data={tlsData} editing={editing} />
        </section>

        <section className="card" aria-labelledby="df-options">
          <h2 className="card-title" id="df-options">
            Options
          </h2>
          {fe("options") ? <p className="field-error">{fe("options")}</p> : null}
          <div className="grid grid-3">
            <CheckboxField label="WebSocket" name="websocket" hint="Pass Upgrade headers through." checked={v.websocket} onChange={(e) => set("websocket", e.target.checked)} error={opt("websocket")} />
          </div>
          <div className="form-grid">
            <TextField label="Max body size (MB)" name="max_body_size_mb" inputMode="numeric" hint="Empty: the proxy's default." value={v.max_body_size_mb} onChange={(e) => set("max_body_size_mb", e.target.value)} error={opt("max_body_size_mb")} />
            <TextField label="Connect timeout (s)" name="proxy_connect_timeout" inputMode="numeric" value={v.proxy_connect_timeout} onChange={(e) => set("proxy_connect_timeout", e.target.value)} error={opt("proxy_connect_timeout")} />
            <TextField label="Read timeout (s)" name="proxy_read_timeout" inputMode="numeric" value={v.proxy_read_timeout} onChange={(e) => set("proxy_read_timeout", e.target.value)} error={opt("proxy_read_timeout")} />
            <TextField label="Send timeout (s)" name="proxy_send_timeout" inputMode="numeric" value={v.proxy_send_timeout} onChange={(e) => set("proxy_send_timeout", e.target.value)} error={opt("proxy_send_timeout")} />
          </div>
          <div className="grid grid-3 kv-grid">
            <KeyValueEditor
              legend="Response headers"
              hint="Added to every response."
              rows={v.response_headers}
              onChange={(rows) => set("response_headers", rows)}
              rowError={(r) => form.itemError("options.response_headers", v.response_headers.indexOf(r))}
              keyPlaceholder="X-Frame-Options"
              valuePlaceholder="DENY"
              addLabel="Add header"
            />
            <ListEditor
              legend="Allow"
              hint="Only these networks (CIDR) may connect; empty = everyone."
              rows={v.allow}
              onChange={(rows) => set("allow", rows)}
              rowError={(i) => form.itemError("options.allow", i)}
              error={opt("allow")}
              placeholder="192.0.2.0/24"
              addLabel="Add allowed network"
            />
            <ListEditor
              legend="Deny"
              hint="These networks (CIDR) are refused."
              rows={v.deny}
              onChange={(rows) => set("deny", rows)}
              rowError={(i) => form.itemError("options.deny", i)}
              error={opt("deny")}
              placeholder="203.0.113.0/24"
              addLabel="Add denied network"
            />
          </div>
        </section>

        <section className="card" aria-labelledby="df-routes">
          <h2 className="card-title" id="df-routes">
            Path routes
          </h2>
          {fe("routes") ? <p className="field-error">{fe("routes")}</p> : null}
          <RouteEditor rows={v.routes} onChange={(rows) => set("routes", rows)} fieldError={(i, sub) => fe(indexedField("routes", i, sub))} />
        </section>

        <FormError message={form.formMessage} />
        <div className="form-actions form-actions-page">
          <Link to={back} className="btn btn-secondary">
            Cancel
          </Link>
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? (editing ? "Saving…" : "Adding…") : editing ? "Save changes" : "Add domain"}
          </button>
        </div>
      </form>
      {editing && current ? (
        <ConfirmDialog
          open={deleting}
          title={`Delete domain “${current.domain.name_unicode || current.domain.name}”?`}
          confirmLabel="Delete domain"
          onClose={() => setDeleting(false)}
          onConfirm={async () => {
            await deleteDomain(current.domain.id);
            toast.success(`Domain “${current.domain.name}” deleted`);
            navigate(`/domains/groups/${current.domain.group.id}`);
          }}
        >
          <p>
            <strong>{current.domain.name}</strong> is removed from the group “{current.domain.group.name}” and no longer served
            {current.domain.server ? ` by ${current.domain.server.name}` : ""}. This cannot be undone.
          </p>
        </ConfirmDialog>
      ) : null}
      <ConflictDialog
        open={conflict}
        what={`domain “${current?.domain.name ?? ""}”`}
        onClose={() => setConflict(false)}
        onReload={() => {
          setConflict(false);
          form.clear();
          setCurrent(null);
          if (domainId != null) void load(domainId);
        }}
      />
    </>
  );
}
