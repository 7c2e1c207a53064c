// Badges of the TLS module: a certificate's expiry at a glance (text and
// colour: days left, the 30/14/7-day warnings, expired), its status and its
// source; and the warnings banner over the certificates.
import { Link } from "react-router";
import type { Certificate } from "../api/certificates";
import { formatDateTime, formatRelative } from "../lib/format";
import { certificateTitle, expiryView, type CertificateWarnings, type DomainTlsCell } from "../lib/tls";
import { Badge } from "./Badge";

export function ExpiryBadge({ cert }: { cert: Pick<Certificate, "expiry" | "not_after" | "days_left" | "fingerprint"> }) {
  const e = expiryView(cert);
  return (
    <span className={`badge badge-${e.tone}`} data-level={e.level} title={e.level === "none" ? undefined : `Valid until ${formatDateTime(cert.not_after)}`}>
      {e.text}
    </span>
  );
}

/** A domain's HTTPS at a glance (the domain list): the certificate served and its expiry, or why there is none. */
export function DomainTlsSummary({ cell }: { cell: DomainTlsCell }) {
  if (cell.kind === "none") return <span className="muted">—</span>;
  const mode = cell.mode === "acme" ? <Badge tone="info">ACME</Badge> : null;
  if (cell.kind === "mode") return cell.mode === "acme" ? mode : <Badge tone="info">certificate</Badge>;
  if (cell.kind === "note") {
    return (
      <div className="cell-tls" data-testid="domain-tls-cell">
        <span className={`badge badge-${cell.tone}`} title={cell.title}>
          {cell.text}
        </span>
      </div>
    );
  }
  const c = cell.certificate;
  return (
    <div className="cell-tls" data-testid="domain-tls-cell">
      <span className="truncate cell-tls-name" title={certificateTitle(c)}>
        {c.name}
      </span>
      <span className="cell-tls-badges">
        <ExpiryBadge cert={c} />
        {mode}
        {cell.failed ? (
          <span className="badge badge-danger" title={cell.failed.title}>
            ACME failed
          </span>
        ) : null}
      </span>
    </div>
  );
}

const STATUS_TONE: Record<string, "success" | "info" | "danger" | "neutral"> = { valid: "success", pending: "info", failed: "danger" };
export function CertStatusBadge({ status }: { status: string }) {
  return (
    <span className={`badge badge-${STATUS_TONE[status] ?? "neutral"}`} data-status={status}>
      {status}
    </span>
  );
}

export function CertSourceBadge({ source }: { source: string }) {
  return source === "acme" ? <Badge tone="info">ACME</Badge> : <Badge tone="neutral">uploaded</Badge>;
}

/** The banner: expired and expiring certificates (worst first) and failed renewals with the CA's text. */
export function CertificateWarningsBanner({ warnings }: { warnings: CertificateWarnings }) {
  return (
    <section className={`notice notice-${warnings.tone} cert-warnings`} aria-label="Certificate warnings" data-testid="certificate-warnings">
      <ul className="plain-list">
        {warnings.lines.map((l) => (
          <li key={l.level}>
            <span className="strong">{l.text}:</span>{" "}
            {l.level === "failed" ? (
              <ul className="cert-failures">
                {l.certificates.map((c) => (
                  <li key={c.id}>
                    <span className="strong">{c.name}</span>
                    {c.next_attempt_at ? <span className="small"> (next attempt {formatRelative(c.next_attempt_at)})</span> : null}
                    {c.last_error ? <span className="cert-error">{c.last_error}</span> : null}
                  </li>
                ))}
              </ul>
            ) : (
              l.certificates.map((c, i) => (
                <span key={c.id}>
                  {i > 0 ? ", " : ""}
                  {c.name} ({expiryView(c).text})
                </span>
              ))
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

/** Where a certificate is served: domains (their form for operators, a search for viewers) and their servers. */
export function UsedBy({ cert, linkDomains }: { cert: Pick<Certificate, "used_by">; linkDomains: boolean }) {
  if (cert.used_by.length === 0) return <span className="muted">not used</span>;
  return (
    <ul className="plain-list used-by" aria-label="Used by">
      {cert.used_by.map((u) => (
        <li key={u.domain_id}>
          <Link to={linkDomains ? `/domains/${u.domain_id}/edit` : `/domains?q=${encodeURIComponent(u.domain)}`}>{u.domain}</Link>
          {u.server_id != null ? (
            <span className="muted small">
              {" "}
              on <Link to={`/servers/${u.server_id}`}>{u.server ?? `server ${u.server_id}`}</Link>
            </span>
          ) : (
            <span className="muted small"> (no server)</span>
          )}
        </li>
      ))}
    </ul>
  );
}
