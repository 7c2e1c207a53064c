// The Certificates module (/certificates): every TLS certificate, soonest
// expiry first, with its expiry at a glance (days left, 30/14/7-day warnings,
// expired), names, issuer, source, status and where it is served; a banner
// when any expires soon or failed to renew. Operators upload certificates,
// delete unused ones and add ACME accounts. Live: `certificate.` events
// re-read the list (uploads, issuance, renewals, failures).
import { useCallback, useEffect, useState } from "react";
import { hasRole } from "../api/client";
import { deleteCertificate, listAcmeAccounts, listCertificates, type AcmeAccount, type Certificate } from "../api/certificates";
import { useEvents } from "../api/events";
import { useMe } from "../auth/AuthContext";
import { Badge } from "../components/Badge";
import { CertSourceBadge, CertStatusBadge, CertificateWarningsBanner, ExpiryBadge, UsedBy } from "../components/CertificateBadges";
import { AcmeAccountDialog, UploadCertificateDialog } from "../components/CertificateDialogs";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { DataTable, type Column } from "../components/DataTable";
import { PageHeader } from "../components/Layout";
import { EmptyState } from "../components/States";
import { useToast } from "../components/Toasts";
import { formatDateTime, formatRelative } from "../lib/format";
import { plural } from "../lib/selection";
import { CERT_FILTERS, certificateWarnings, directoryLabel, EXPIRY_ORDER, filterCertificates, isIssued } from "../lib/tls";
import { useUrlFilters } from "../lib/useUrlFilters";
import { SelectField } from "../components/Form";

const EXPIRY_FILTER_LABELS: Record<string, string> = {
  expired: "Expired",
  expiring_7: "7 days or less left",
  expiring_14: "8–14 days left",
  expiring_30: "15–30 days left",
  ok: "More than 30 days",
};

/** A list the API returns whole (no cursor): data, error, loading and a reload. */
function useList<T>(fetch: () => Promise<T[]>) {
  const [items, setItems] = useState<T[] | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const reload = useCallback(async () => {
    setLoading(true);
    try {
      setItems(await fetch());
      setError(null);
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  }, [fetch]);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { items, error, loading, reload };
}

function CertificateDetails({ c }: { c: Certificate }) {
  return (
    <dl className="facts" data-testid={`certificate-${c.id}-details`}>
      <div>
        <dt>Valid from</dt>
        <dd>{isIssued(c) ? formatDateTime(c.not_before) : "—"}</dd>
      </div>
      <div>
        <dt>Valid until</dt>
        <dd>{isIssued(c) ? formatDateTime(c.not_after) : "—"}</dd>
      </div>
      <div>
        <dt>Serial</dt>
        <dd className="mono break">{c.serial || "—"}</dd>
      </div>
      <div>
        <dt>SHA-256 fingerprint</dt>
        <dd className="mono break small">{c.fingerprint || "—"}</dd>
      </div>
      {c.source === "acme" ? (
        <>
          <div>
            <dt>Renews</dt>
            <dd title={formatDateTime(c.renew_after)}>{c.renew_after ? formatRelative(c.renew_after) : "—"}</dd>
          </div>
          <div>
            <dt>Failed attempts</dt>
            <dd>{c.failures}</dd>
          </div>
          <div>
            <dt>Next attempt</dt>
            <dd title={formatDateTime(c.next_attempt_at)}>{c.next_attempt_at ? formatRelative(c.next_attempt_at) : "—"}</dd>
          </div>
        </>
      ) : null}
      <div>
        <dt>Updated</dt>
        <dd>{formatDateTime(c.updated_at)}</dd>
      </div>
      {c.last_error ? (
        <div className="facts-wide">
          <dt>Last error</dt>
          <dd>
            <pre className="code-block code-error">{c.last_error}</pre>
          </dd>
        </div>
      ) : null}
    </dl>
  );
}

export function CertificatesPage() {
  const me = useMe();
  const canManage = hasRole(me.role, "operator");
  const toast = useToast();
  const certs = useList<Certificate>(listCertificates);
  const accounts = useList<AcmeAccount>(listAcmeAccounts);
  const [uploading, setUploading] = useState(false);
  const [addingAccount, setAddingAccount] = useState(false);
  const [deleting, setDeleting] = useState<Certificate | null>(null);
  const [f, setF] = useUrlFilters(CERT_FILTERS);
  const filtered = Boolean(f.expiry || f.renewal);
  const shown = certs.items && filtered ? filterCertificates(certs.items, f) : certs.items;

  const { reload } = certs;
  useEvents("certificate.", () => void reload());
  // A domain edit can start or stop serving a certificate ("Used by").
  useEvents("domain.", () => void reload());

  const columns: Column<Certificate>[] = [
    {
      key: "name",
      header: "Certificate",
      render: (c) => (
        <div className="cell-server">
          <span className="strong">{c.name}</span>
          <span className="muted small">{c.issuer ? `issued by ${c.issuer}` : "not issued yet"}</span>
        </div>
      ),
    },
    {
      key: "expiry",
      header: "Expiry",
      render: (c) => (
        <div className="cell-status">
          <ExpiryBadge cert={c} />
          {isIssued(c) ? <span className="muted small">{formatDateTime(c.not_after)}</span> : null}
        </div>
      ),
    },
    {
      key: "names",
      header: "Names",
      render: (c) => (
        <ul className="chip-list chip-list-tight" aria-label="Names">
          {c.names.map((n) => (
            <li key={n} className="chip mono">
              {n}
            </li>
          ))}
        </ul>
      ),
    },
    { key: "source", header: "Source", render: (c) => <CertSourceBadge source={c.source} /> },
    {
      key: "status",
      header: "Status",
      className: "col-wide",
      render: (c) => (
        <div className="cell-status">
          <CertStatusBadge status={c.status} />
          {c.last_error ? (
            <span className="small text-danger truncate status-msg" title={c.last_error}>
              {c.last_error}
            </span>
          ) : null}
        </div>
      ),
    },
    { key: "used_by", header: "Used by", render: (c) => <UsedBy cert={c} linkDomains={canManage} /> },
    ...(canManage
      ? [
          {
            key: "actions",
            header: <span className="sr-only">Actions</span>,
            className: "col-actions",
            render: (c: Certificate) => (
              <div className="row-actions">
                <button type="button" className="btn btn-danger-outline btn-sm" onClick={() => setDeleting(c)} aria-label={`Delete ${c.name}`}>
                  Delete
                </button>
              </div>
            ),
          } satisfies Column<Certificate>,
        ]
      : []),
  ];

  const accountColumns: Column<AcmeAccount>[] = [
    { key: "name", header: "Account", render: (a) => <span className="strong">{a.name}</span> },
    { key: "directory", header: "Directory", className: "col-wide", render: (a) => <span className="break" title={a.directory_url}>{directoryLabel(a.directory_url)}</span> },
    { key: "contact", header: "Contact", render: (a) => (a.contact ? <span>{a.contact}</span> : <span className="muted">—</span>) },
    { key: "ca", header: "CA bundle", render: (a) => (a.custom_ca ? <Badge tone="info">custom roots</Badge> : <span className="muted">system roots</span>) },
    { key: "registered", header: "Registered", render: (a) => (a.registered ? <Badge tone="success">registered</Badge> : <Badge tone="neutral">at first issuance</Badge>) },
    { key: "created", header: "Added", render: (a) => <span title={formatDateTime(a.created_at)}>{formatRelative(a.created_at)}</span> },
  ];

  const warnings = certs.items ? certificateWarnings(certs.items) : null;
  return (
    <>
      <PageHeader
        title="Certificates"
        description="TLS certificates served by the reverse proxy: uploaded ones and those Gantry issues and renews with ACME."
        actions={
          canManage ? (
            <button type="button" className="btn btn-primary" onClick={() => setUploading(true)}>
              Upload certificate
            </button>
          ) : null
        }
      />
      {warnings ? <CertificateWarningsBanner warnings={warnings} /> : null}
      <section className="card" aria-labelledby="cert-list">
        <div className="card-head">
          <div>
            <h2 className="card-title" id="cert-list">
              Certificates
            </h2>
            <p className="muted small">Soonest expiry first. Private keys never leave Gantry: they are not shown and not downloadable.</p>
          </div>
          {certs.items && certs.items.length > 0 ? <span className="muted small">{plural(certs.items.length, "certificate")}</span> : null}
        </div>
        <form className="filters" role="search" aria-label="Filter certificates" onSubmit={(e) => e.preventDefault()}>
          <SelectField
            label="Expiry"
            name="expiry"
            value={f.expiry}
            onChange={(e) => setF({ expiry: e.target.value })}
            options={[{ value: "", label: "Any expiry" }, ...EXPIRY_ORDER.map((l) => ({ value: l, label: EXPIRY_FILTER_LABELS[l] }))]}
          />
          <SelectField
            label="Renewal"
            name="renewal"
            value={f.renewal}
            onChange={(e) => setF({ renewal: e.target.value })}
            options={[
              { value: "", label: "Any" },
              { value: "failing", label: "Failing" },
            ]}
          />
          {filtered ? (
            <button type="button" className="btn btn-ghost filters-clear" onClick={() => setF({ expiry: "", renewal: "" })}>
              Clear filters
            </button>
          ) : null}
        </form>
        <DataTable
          label="Certificates"
          columns={columns}
          rows={shown}
          rowKey={(c) => c.id}
          loading={certs.loading}
          error={certs.error}
          onRetry={() => void certs.reload()}
          renderExpanded={(c) => <CertificateDetails c={c} />}
          expandLabel={(c) => `Details of ${c.name}`}
          empty={
            filtered ? (
              <EmptyState title="No certificates match these filters" />
            ) : (
            <EmptyState
              title="No certificates yet"
              icon="◈"
              action={
                canManage ? (
                  <button type="button" className="btn btn-secondary" onClick={() => setUploading(true)}>
                    Upload a certificate
                  </button>
                ) : null
              }
            >
              <p>
                Upload a certificate, or set a domain's TLS mode to ACME: Gantry then issues its certificate and renews it before it
                expires.
              </p>
            </EmptyState>
            )
          }
        />
      </section>
      <section className="card" aria-labelledby="cert-accounts">
        <div className="card-head">
          <div>
            <h2 className="card-title" id="cert-accounts">
              ACME accounts
            </h2>
            <p className="muted small">The certificate authorities Gantry orders certificates from, for domains with TLS mode “ACME”.</p>
          </div>
          {canManage ? (
            <div className="card-actions">
              <button type="button" className="btn btn-secondary" onClick={() => setAddingAccount(true)}>
                Add ACME account
              </button>
            </div>
          ) : null}
        </div>
        <DataTable
          label="ACME accounts"
          columns={accountColumns}
          rows={accounts.items}
          rowKey={(a) => a.id}
          loading={accounts.loading}
          error={accounts.error}
          onRetry={() => void accounts.reload()}
          empty={
            <EmptyState title="No ACME accounts yet" icon="◇">
              <p>Add one (Let's Encrypt, its staging directory, or your own ACME CA) before a domain uses ACME.</p>
            </EmptyState>
          }
        />
      </section>
      <UploadCertificateDialog
        open={uploading}
        onClose={() => setUploading(false)}
        onUploaded={(c) => {
          setUploading(false);
          toast.success(`Certificate “${c.name}” uploaded`);
          void certs.reload();
        }}
      />
      <AcmeAccountDialog
        open={addingAccount}
        onClose={() => setAddingAccount(false)}
        onCreated={(a) => {
          setAddingAccount(false);
          toast.success(`ACME account “${a.name}” added`);
          void accounts.reload();
        }}
      />
      {deleting ? (
        <ConfirmDialog
          open
          title={`Delete certificate “${deleting.name}”?`}
          confirmLabel="Delete certificate"
          onClose={() => setDeleting(null)}
          onConfirm={async () => {
            await deleteCertificate(deleting.id);
            toast.success(`Certificate “${deleting.name}” deleted`);
            void certs.reload();
          }}
        >
          <p>
            <strong>{deleting.name}</strong> ({deleting.names.join(", ")}) and its private key are removed from Gantry. A certificate that
            a domain serves cannot be deleted: switch those domains to another certificate first. This cannot be undone.
          </p>
          {deleting.used_by.length > 0 ? (
            <p>Served for: {deleting.used_by.map((u) => u.domain).join(", ")}.</p>
          ) : null}
        </ConfirmDialog>
      ) : null}
    </>
  );
}
