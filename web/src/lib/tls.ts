// TLS helpers shared by the Certificates page and the domain form: expiry
// levels and their badges, the warnings banner, which certificates cover a
// domain (wildcards cover exactly one extra left label, as on the server),
// and the bodies of the upload and ACME account forms.
import type { AccountRequest, AcmePreset, Certificate, ExpiryLevel, UploadRequest } from "../api/certificates";
import { plural } from "./selection";

export type Tone = "neutral" | "info" | "success" | "warning" | "danger" | "accent";

const DAY = 86_400_000;

/** Expiry levels, worst first. */
export const EXPIRY_ORDER: ExpiryLevel[] = ["expired", "expiring_7", "expiring_14", "expiring_30", "ok"];

/** The warning level of a certificate valid until `notAfter`, as the API computes it (30, 14 and 7 days ahead). */
export function expiryLevelAt(notAfter: string, now = Date.now()): ExpiryLevel {
  const left = new Date(notAfter).getTime() - now;
  if (Number.isNaN(left)) return "ok";
  if (left <= 0) return "expired";
  if (left <= 7 * DAY) return "expiring_7";
  if (left <= 14 * DAY) return "expiring_14";
  if (left <= 30 * DAY) return "expiring_30";
  return "ok";
}

/** A certificate's level: the API's, or computed from `not_after` if the API sent one this panel does not know. */
export function expiryLevel(c: Pick<Certificate, "expiry" | "not_after">, now = Date.now()): ExpiryLevel {
  return (EXPIRY_ORDER as string[]).includes(c.expiry) ? (c.expiry as ExpiryLevel) : expiryLevelAt(c.not_after, now);
}

/** The Certificates page's filters in the URL (`/certificates?expiry=expiring_14`, `?renewal=failing`), e.g. from a dashboard tile. */
export const CERT_FILTERS = ["expiry", "renewal"] as const;

/** The certificates the URL filters keep: one expiry level, and/or only those whose issuance or renewal is failing. */
export function filterCertificates(certs: Certificate[], f: { expiry: string; renewal: string }, now = Date.now()): Certificate[] {
  return certs.filter(
    (c) => (!f.expiry || expiryLevel(c, now) === f.expiry) && (f.renewal !== "failing" || c.failures > 0),
  );
}

/** Whether a certificate has been issued (an ACME one waiting for its first issuance has no material, so no real dates). */
export function isIssued(c: Pick<Certificate, "fingerprint">): boolean {
  return c.fingerprint !== "";
}

export interface ExpiryView {
  /** `none`: not issued yet. */
  level: ExpiryLevel | "none";
  tone: Tone;
  /** "12 days left", "expired 3 days ago", "not issued yet". */
  text: string;
}

const LEVEL_TONE: Record<ExpiryLevel, Tone> = {
  ok: "success",
  expiring_30: "warning",
  expiring_14: "warning",
  expiring_7: "danger",
  expired: "danger",
};

/** What the expiry badge says: text (never colour alone) and tone. */
export function expiryView(c: Pick<Certificate, "expiry" | "not_after" | "days_left" | "fingerprint">, now = Date.now()): ExpiryView {
  if (!isIssued(c)) return { level: "none", tone: "neutral", text: "not issued yet" };
  const level = expiryLevel(c, now);
  const d = c.days_left;
  let text: string;
  if (level === "expired") text = d <= -1 ? `expired ${plural(-d, "day")} ago` : "expired today";
  else if (d <= 0) text = "less than a day left";
  else text = `${plural(d, "day")} left`;
  return { level, tone: LEVEL_TONE[level], text };
}

/** Whether the last issuance or renewal failed (the CA's problem text is in `last_error`). */
export function renewalFailed(c: Pick<Certificate, "last_error" | "status">): boolean {
  return c.status === "failed" || Boolean(c.last_error);
}

export interface WarningLine {
  level: ExpiryLevel | "failed";
  certificates: Certificate[];
  text: string;
}

export interface CertificateWarnings {
  /** `danger` when something expired, expires within 7 days or failed; else `warning`. */
  tone: "danger" | "warning";
  lines: WarningLine[];
}

const LEVEL_TEXT: Record<Exclude<ExpiryLevel, "ok">, (n: number) => string> = {
  expired: (n) => `${plural(n, "certificate")} ${n === 1 ? "has" : "have"} expired`,
  expiring_7: (n) => `${plural(n, "certificate")} ${n === 1 ? "expires" : "expire"} within 7 days`,
  expiring_14: (n) => `${plural(n, "certificate")} ${n === 1 ? "expires" : "expire"} within 14 days`,
  expiring_30: (n) => `${plural(n, "certificate")} ${n === 1 ? "expires" : "expire"} within 30 days`,
};

/**
 * The banner over the certificates: issued certificates that expired or
 * expire within 7, 14 or 30 days (worst first), and those whose issuance or
 * renewal failed. `null` when all is well.
 */
export function certificateWarnings(certs: readonly Certificate[], now = Date.now()): CertificateWarnings | null {
  const lines: WarningLine[] = [];
  for (const level of EXPIRY_ORDER) {
    if (level === "ok") continue;
    const matching = certs.filter((c) => isIssued(c) && expiryLevel(c, now) === level);
    if (matching.length) lines.push({ level, certificates: matching, text: LEVEL_TEXT[level](matching.length) });
  }
  const failed = certs.filter(renewalFailed);
  if (failed.length) {
    lines.push({ level: "failed", certificates: failed, text: `${plural(failed.length, "certificate")} failed to be issued or renewed` });
  }
  if (lines.length === 0) return null;
  const danger = lines.some((l) => l.level === "expired" || l.level === "expiring_7" || l.level === "failed");
  return { tone: danger ? "danger" : "warning", lines };
}

/**
 * Whether a certificate name covers a host name. A wildcard covers exactly one
 * extra left label (RFC 6125 §6.4.3): `*.example.com` covers `a.example.com`,
 * not `example.com` nor `a.b.example.com`. Case does not matter.
 */
export function nameCovers(pattern: string, name: string): boolean {
  const p = pattern.trim().toLowerCase().replace(/\.$/, "");
  const n = name.trim().toLowerCase().replace(/\.$/, "");
  if (!p || !n) return false;
  if (p.startsWith("*.")) {
    const dot = n.indexOf(".");
    if (dot <= 0) return false;
    const first = n.slice(0, dot);
    return first !== "*" && n.slice(dot + 1) === p.slice(2);
  }
  return p === n;
}

/** Whether a certificate with `certNames` covers every one of `names` (none: false). */
export function coversAll(certNames: readonly string[], names: readonly string[]): boolean {
  return names.length > 0 && names.every((n) => certNames.some((p) => nameCovers(p, n)));
}

/** The ASCII (punycode) form of a host name the user typed, as certificates name it; `*.` is kept. */
export function asciiHostname(name: string): string {
  const t = name.trim().toLowerCase().replace(/\.$/, "");
  if (!/[^\x00-\x7f]/.test(t)) return t;
  const wildcard = t.startsWith("*.");
  const rest = wildcard ? t.slice(2) : t;
  try {
    const ascii = new URL(`http://${rest}`).hostname;
    return wildcard ? `*.${ascii}` : ascii;
  } catch {
    return t;
  }
}

/**
 * Uploaded certificates that can serve a domain: issued, covering its name
 * and every alias; latest expiry first (the API's suggestions, computed in the
 * browser while a new domain is typed).
 */
export function coveringCertificates(certs: readonly Certificate[], names: readonly string[]): Certificate[] {
  const ascii = names.map(asciiHostname).filter(Boolean);
  return certs
    .filter((c) => c.source === "upload" && isIssued(c) && coversAll(c.names, ascii))
    .sort((a, b) => new Date(b.not_after).getTime() - new Date(a.not_after).getTime());
}

/** A certificate in a select: name, expiry. */
export function certificateOptionLabel(c: Certificate, now = Date.now()): string {
  const e = expiryView(c, now);
  return `${c.name} (${c.names.join(", ")}; ${e.text})`;
}

// --- domain list ----------------------------------------------------------------

/** What the domain list's HTTPS column shows for one domain. */
export type DomainTlsCell =
  | { kind: "none" }
  /** The certificates could not be read: only the mode. */
  | { kind: "mode"; mode: "certificate" | "acme" }
  /** The certificate served, with a note when its last ACME renewal failed. */
  | { kind: "served"; mode: "certificate" | "acme"; certificate: Certificate; failed?: { title: string } }
  | { kind: "note"; mode: "certificate" | "acme"; tone: Tone; text: string; title?: string };

/**
 * Which certificate a domain serves, for the domain list: the uploaded one it
 * names (`options.certificate_id`), or the ACME certificate issued for it.
 * `certs` null: the list could not be read (only the mode is shown).
 */
export function domainTlsCell(
  d: { id: number; options: { tls?: string | null; certificate_id?: number | null } },
  certs: readonly Certificate[] | null,
): DomainTlsCell {
  const mode = d.options.tls;
  if (mode !== "certificate" && mode !== "acme") return { kind: "none" };
  if (!certs) return { kind: "mode", mode };
  if (mode === "certificate") {
    const c = d.options.certificate_id == null ? undefined : certs.find((x) => x.id === d.options.certificate_id);
    return c ? { kind: "served", mode, certificate: c } : { kind: "note", mode, tone: "danger", text: "certificate missing", title: "The certificate this domain names no longer exists." };
  }
  const c = certs.find((x) => x.source === "acme" && x.domain_id === d.id);
  const failed = c?.status === "failed" ? { title: c.last_error || "The last issuance or renewal failed." } : undefined;
  if (c && isIssued(c)) return failed ? { kind: "served", mode, certificate: c, failed } : { kind: "served", mode, certificate: c };
  if (failed) return { kind: "note", mode, tone: "danger", text: "ACME failed", title: failed.title };
  return { kind: "note", mode, tone: "neutral", text: "ACME: not issued yet" };
}

/** The title of a certificate's name in the domain list: its full name and DNS names. */
export function certificateTitle(c: Pick<Certificate, "name" | "names">): string {
  return c.names.length ? `${c.name} (${c.names.join(", ")})` : c.name;
}

// --- forms ---------------------------------------------------------------------

export interface UploadFormValues {
  name: string;
  certificate: string;
  private_key: string;
}

export function emptyUploadForm(): UploadFormValues {
  return { name: "", certificate: "", private_key: "" };
}

/** Body of POST /api/v1/certificates: an empty name lets the API name it (first DNS name and expiry). */
export function uploadBody(v: UploadFormValues): UploadRequest {
  return { name: v.name.trim() || null, certificate: v.certificate, private_key: v.private_key };
}

export const LETSENCRYPT_URL = "https://acme-v02.api.letsencrypt.org/directory";
export const LETSENCRYPT_STAGING_URL = "https://acme-staging-v02.api.letsencrypt.org/directory";

export type DirectoryChoice = AcmePreset | "custom";

export const DIRECTORY_OPTIONS: { value: DirectoryChoice; label: string }[] = [
  { value: "letsencrypt", label: "Let's Encrypt" },
  { value: "letsencrypt-staging", label: "Let's Encrypt (staging)" },
  { value: "custom", label: "Custom ACME directory" },
];

export interface AccountFormValues {
  name: string;
  directory: DirectoryChoice;
  directory_url: string;
  contact: string;
  ca_bundle: string;
}

export function emptyAccountForm(): AccountFormValues {
  return { name: "", directory: "letsencrypt", directory_url: "", contact: "", ca_bundle: "" };
}

/**
 * Body of POST /api/v1/certificates/acme-accounts: a preset, or a custom
 * directory URL with its optional CA bundle (a private CA's roots); empty
 * optional fields are sent as null.
 */
export function accountBody(v: AccountFormValues): AccountRequest {
  const custom = v.directory === "custom";
  return {
    name: v.name.trim(),
    preset: custom ? null : v.directory,
    directory_url: custom ? v.directory_url.trim() : null,
    contact: v.contact.trim() || null,
    ca_bundle: custom && v.ca_bundle.trim() ? v.ca_bundle : null,
  };
}

/** "Let's Encrypt", "Let's Encrypt (staging)", or the URL. */
export function directoryLabel(url: string): string {
  if (url === LETSENCRYPT_URL) return "Let's Encrypt";
  if (url === LETSENCRYPT_STAGING_URL) return "Let's Encrypt (staging)";
  return url;
}
