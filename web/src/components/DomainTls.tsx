// The TLS part of the domain form: the domain's TLS state when editing
// (which certificate is served, its expiry with the warning levels, for ACME
// the last failure with the CA's text and "Issue certificate now" followed
// live), then the fields: mode (none, uploaded certificate, ACME), the
// certificate picker, redirect to HTTPS, HSTS, HTTP/2 and the TLS profile.
import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router";
import { hasRole, isApiError, type Job } from "../api/client";
import { domainTls, issueCertificate, listAcmeAccounts, listCertificates, type AcmeAccount, type Certificate, type DomainTls, type TlsMode, type TlsProfile } from "../api/certificates";
import { useEvents } from "../api/events";
import { useMe } from "../auth/AuthContext";
import { formatDateTime, formatRelative } from "../lib/format";
import { servedNames, type DomainFormValues } from "../lib/domainForm";
import { certificateOptionLabel, coveringCertificates, isIssued } from "../lib/tls";
import { CertSourceBadge, CertStatusBadge, ExpiryBadge } from "./CertificateBadges";
import { CheckboxField, SelectField, TextField } from "./Form";
import { ProxyJob } from "./ProxyJob";
import { useToast } from "./Toasts";

export const TLS_MODES: { value: TlsMode; label: string; hint: string }[] = [
  { value: "none", label: "None", hint: "HTTP only (port 80)." },
  { value: "certificate", label: "Uploaded certificate", hint: "Serve HTTPS with a certificate uploaded on the Certificates page." },
  { value: "acme", label: "ACME (automatic)", hint: "Gantry gets a certificate from an ACME CA (Let's Encrypt, …) and renews it." },
];

export const TLS_PROFILES: { value: TlsProfile; label: string }[] = [
  { value: "intermediate", label: "Intermediate (TLS 1.2 and 1.3)" },
  { value: "modern", label: "Modern (TLS 1.3 only)" },
];

/**
 * What the TLS section reads: when editing, the domain's certificate state
 * (GET /domains/{id}/certificate, re-read on certificate events); when
 * creating, every certificate (filtered in the browser as names are typed);
 * and the ACME accounts.
 */
export function useDomainTlsData(domainId: number | null) {
  const [tls, setTls] = useState<DomainTls | null>(null);
  const [tlsError, setTlsError] = useState<unknown>(null);
  const [certificates, setCertificates] = useState<Certificate[] | null>(null);
  const [accounts, setAccounts] = useState<AcmeAccount[] | null>(null);

  const reload = useCallback(async () => {
    if (domainId == null) return;
    try {
      setTls(await domainTls(domainId));
      setTlsError(null);
    } catch (e) {
      setTlsError(e);
    }
  }, [domainId]);

  useEffect(() => {
    setTls(null);
    if (domainId != null) void reload();
    else listCertificates().then(setCertificates, () => setCertificates([]));
    listAcmeAccounts().then(setAccounts, () => setAccounts([]));
  }, [domainId, reload]);

  useEvents("certificate.", () => {
    if (domainId != null) void reload();
    else listCertificates().then(setCertificates, () => undefined);
  });

  return { tls, tlsError, reload, certificates, accounts };
}

export type DomainTlsData = ReturnType<typeof useDomainTlsData>;

/** The certificates the picker offers: the API's suggestions when editing, else the uploaded ones covering the typed names. */
export function certificateChoices(data: Pick<DomainTlsData, "tls" | "certificates">, v: Pick<DomainFormValues, "name" | "aliases">): Certificate[] {
  if (data.tls) {
    const out = [...data.tls.suggestions];
    const s = data.tls.serving;
    if (s && s.source === "upload" && !out.some((c) => c.id === s.id)) out.push(s);
    return out;
  }
  return coveringCertificates(data.certificates ?? [], servedNames(v));
}

/** The served certificate: name, expiry badge and dates, names, issuer. */
function ServedCertificate({ c }: { c: Certificate }) {
  return (
    <div className="tls-served" data-testid="domain-tls-serving">
      <div className="status-line">
        <span className="muted small">Served now:</span>
        <span className="strong">{c.name}</span>
        <CertSourceBadge source={c.source} />
        <ExpiryBadge cert={c} />
      </div>
      <dl className="facts">
        <div>
          <dt>Valid until</dt>
          <dd>{formatDateTime(c.not_after)}</dd>
        </div>
        <div>
          <dt>Names</dt>
          <dd className="mono break">{c.names.join(", ")}</dd>
        </div>
        <div>
          <dt>Issuer</dt>
          <dd className="break">{c.issuer || "—"}</dd>
        </div>
        <div>
          <dt>{c.source === "acme" ? "Renews" : "Serial"}</dt>
          <dd className={c.source === "acme" ? undefined : "mono break small"} title={c.source === "acme" ? formatDateTime(c.renew_after) : undefined}>
            {c.source === "acme" ? (c.renew_after ? formatRelative(c.renew_after) : "—") : c.serial}
          </dd>
        </div>
      </dl>
    </div>
  );
}

/**
 * The saved domain's TLS state (editing only). `savedMode` is the stored
 * mode: issuing needs it to be ACME, so an unsaved switch says to save first.
 */
export function DomainTlsState({
  domainId,
  domainName,
  savedMode,
  formMode,
  data,
}: {
  domainId: number;
  domainName: string;
  savedMode: TlsMode;
  formMode: TlsMode;
  data: DomainTlsData;
}) {
  const me = useMe();
  const canManage = hasRole(me.role, "operator");
  const toast = useToast();
  const { tls, tlsError, reload, accounts } = data;
  const [job, setJob] = useState<{ id: number; job: Job | null } | null>(null);
  const [running, setRunning] = useState(false);
  const [starting, setStarting] = useState(false);
  const [accountId, setAccountId] = useState("");

  // An issuance already queued or running (e.g. started elsewhere): follow it.
  const pendingJob = tls?.acme?.job_id ?? null;
  useEffect(() => {
    if (pendingJob != null && job == null) {
      setJob({ id: pendingJob, job: null });
      setRunning(true);
    }
  }, [pendingJob, job]);

  const onFinished = useCallback(
    (j: Job | null) => {
      setRunning(false);
      void reload();
      if (j?.status === "succeeded") toast.success(`Certificate issued for “${domainName}”`);
      else if (j) toast.error(`Issuing the certificate for “${domainName}” ${j.status}${j.error ? `: ${j.error}` : ""}`);
    },
    [reload, toast, domainName],
  );

  async function issue() {
    setStarting(true);
    try {
      const j = await issueCertificate(domainId, accountId ? Number(accountId) : null);
      setJob({ id: j.id, job: j });
      setRunning(true);
    } catch (e) {
      toast.error(isApiError(e) ? (e.errors.length ? e.errors.map((x) => x.message).join("; ") : e.detail) : String(e));
    } finally {
      setStarting(false);
    }
  }

  if (tlsError) return <p className="muted small">The certificate state of this domain could not be read.</p>;
  if (!tls) return null;
  const acme = tls.acme ?? null;
  const serving = tls.serving ?? null;
  const noAccount = accounts != null && accounts.length === 0;

  return (
    <div className="domain-tls" data-testid="domain-tls" aria-label="TLS state" role="group">
      {serving ? (
        <ServedCertificate c={serving} />
      ) : (
        <p className="muted" data-testid="domain-tls-none">
          {savedMode === "none"
            ? "HTTPS is off: the domain is served over HTTP only."
            : savedMode === "certificate"
              ? "No certificate is served: the chosen certificate could not be read."
              : "No certificate yet: until one is issued the domain is served over HTTP only."}
        </p>
      )}
      {savedMode === "acme" && acme ? (
        <div className="status-line">
          <span className="muted small">ACME certificate:</span>
          <CertStatusBadge status={acme.status} />
          {acme.failures > 0 ? <span className="muted small">{acme.failures} failed attempt{acme.failures === 1 ? "" : "s"}</span> : null}
          {acme.next_attempt_at ? <span className="muted small">next attempt {formatRelative(acme.next_attempt_at)}</span> : null}
          {!isIssued(acme) && acme.status === "pending" ? <span className="muted small">waiting for its first issuance</span> : null}
        </div>
      ) : null}
      {savedMode === "acme" && acme?.last_error && !running ? (
        <div className="tls-error" data-testid="domain-tls-error">
          <p className="strong text-danger">The last attempt failed:</p>
          <pre className="code-block code-error">{acme.last_error}</pre>
        </div>
      ) : null}
      {savedMode === "acme" && canManage ? (
        <div className="tls-issue">
          {accounts && accounts.length > 1 ? (
            <SelectField
              label="ACME account"
              name="account_id"
              fieldClassName="tls-account"
              value={accountId}
              onChange={(e) => setAccountId(e.target.value)}
              options={[{ value: "", label: "Default (the first account)" }, ...accounts.map((a) => ({ value: String(a.id), label: a.name }))]}
            />
          ) : null}
          <button type="button" className="btn btn-secondary" onClick={() => void issue()} disabled={starting || running || noAccount || formMode !== "acme"}>
            {starting ? "Starting…" : running ? "Issuing…" : "Issue certificate now"}
          </button>
          {noAccount ? (
            <span className="muted small">
              Add an ACME account on the <Link to="/certificates">Certificates</Link> page first.
            </span>
          ) : formMode !== "acme" ? (
            <span className="muted small">Save the form first: the TLS mode is changing.</span>
          ) : (
            <span className="muted small">Orders a certificate now (HTTP-01 through the group's server); renewals run by themselves.</span>
          )}
        </div>
      ) : savedMode !== "acme" && formMode === "acme" ? (
        <p className="muted small">Save the form, then issue the first certificate here.</p>
      ) : null}
      {job ? <ProxyJob key={job.id} jobId={job.id} initial={job.job} title="Issuing the certificate" onFinished={onFinished} /> : null}
    </div>
  );
}

/** The TLS fields of the domain form. `opt(name)` is the API's error for `options.<name>`. */
export function DomainTlsFields({
  v,
  set,
  opt,
  data,
  editing,
}: {
  v: DomainFormValues;
  set: <K extends keyof DomainFormValues>(k: K, value: DomainFormValues[K]) => void;
  opt: (name: string) => string | undefined;
  data: DomainTlsData;
  editing: boolean;
}) {
  const choices = certificateChoices(data, v);
  const loaded = editing ? data.tls != null || data.tlsError != null : data.certificates != null;
  const chosen = v.certificate_id;
  const known = choices.some((c) => String(c.id) === chosen);
  const https = v.tls !== "none";
  const wildcard = servedNames(v).some((n) => n.startsWith("*."));

  function chooseMode(mode: TlsMode) {
    set("tls", mode);
    // Picking "Uploaded certificate" preselects the best match (latest expiry).
    if (mode === "certificate" && !v.certificate_id && choices.length > 0) set("certificate_id", String(choices[0].id));
  }

  const certOptions = [
    { value: "", label: !loaded ? "Loading certificates…" : choices.length ? "Choose a certificate…" : "No uploaded certificate covers these names" },
    ...choices.map((c) => ({ value: String(c.id), label: certificateOptionLabel(c) })),
    ...(chosen && !known ? [{ value: chosen, label: `Certificate #${chosen} (does not cover these names)` }] : []),
  ];

  return (
    <>
      <fieldset className="radio-group tls-modes" aria-describedby={opt("tls") ? "df-tls-error" : undefined}>
        <legend className="sr-only">TLS mode</legend>
        {TLS_MODES.map((m) => (
          <label key={m.value} className={`radio-card${v.tls === m.value ? " radio-card-selected" : ""}`}>
            <input type="radio" name="tls" value={m.value} checked={v.tls === m.value} onChange={() => chooseMode(m.value)} />
            <span>
              <span className="strong">{m.label}</span>
              <span className="muted small radio-hint">{m.hint}</span>
            </span>
          </label>
        ))}
      </fieldset>
      {opt("tls") ? (
        <p id="df-tls-error" className="field-error">
          {opt("tls")}
        </p>
      ) : null}
      {v.tls === "certificate" ? (
        <div className="form-grid form-grid-key">
          <SelectField
            label="Certificate"
            name="certificate_id"
            required
            value={chosen}
            onChange={(e) => set("certificate_id", e.target.value)}
            options={certOptions}
            hint={
              loaded && choices.length === 0 ? (
                <>
                  {servedNames(v).length ? "Upload a certificate that covers the name and every alias on the " : "Type the name first, or upload a certificate on the "}
                  <Link to="/certificates">Certificates</Link> page.
                </>
              ) : (
                "Uploaded certificates that cover the name and every alias (a wildcard covers one extra label), latest expiry first."
              )
            }
            error={opt("certificate_id")}
          />
        </div>
      ) : null}
      {v.tls === "acme" ? (
        wildcard ? (
          <p className="notice notice-warning">Wildcard names need the DNS-01 challenge, which Gantry does not offer: upload a wildcard certificate instead.</p>
        ) : data.accounts && data.accounts.length === 0 ? (
          <p className="notice notice-warning">
            There is no ACME account yet: add one on the <Link to="/certificates">Certificates</Link> page. Until a certificate is issued
            the domain is served over HTTP only.
          </p>
        ) : (
          <p className="muted small tls-hint">
            The group's server answers the CA's HTTP-01 challenge on port 80, so the name must resolve to it. After saving, issue the first
            certificate from this page; Gantry renews it before it expires.
          </p>
        )
      ) : null}
      <div className="grid grid-3 tls-options">
        <CheckboxField
          label="Redirect HTTP to HTTPS"
          name="redirect_https"
          hint="Once a certificate is served."
          checked={v.redirect_https}
          onChange={(e) => set("redirect_https", e.target.checked)}
          error={opt("redirect_https")}
        />
        <CheckboxField label="HSTS" name="hsts" hint="Send Strict-Transport-Security." checked={v.hsts} onChange={(e) => set("hsts", e.target.checked)} error={opt("hsts")} />
        <CheckboxField
          label="HTTP/2"
          name="http2"
          hint={https ? "Offer HTTP/2 over HTTPS." : "With HTTPS only."}
          checked={v.http2}
          onChange={(e) => set("http2", e.target.checked)}
          error={opt("http2")}
          disabled={!https}
        />
      </div>
      <div className="form-grid">
        <TextField
          label="HSTS max age (s)"
          name="hsts_max_age"
          inputMode="numeric"
          hint="31536000 = one year."
          value={v.hsts_max_age}
          onChange={(e) => set("hsts_max_age", e.target.value)}
          error={opt("hsts_max_age")}
          disabled={!v.hsts}
        />
        <SelectField
          label="TLS profile"
          name="tls_profile"
          value={v.tls_profile}
          onChange={(e) => set("tls_profile", e.target.value as TlsProfile)}
          options={TLS_PROFILES}
          hint={https ? "Mozilla's server-side TLS profiles; Intermediate suits almost every client." : "With HTTPS only."}
          error={opt("tls_profile")}
          disabled={!https}
        />
      </div>
    </>
  );
}
