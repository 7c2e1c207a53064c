// Calls of the TLS API (tag `certificates`): uploaded and ACME certificates,
// ACME accounts, a domain's certificate state and "issue now". Types are the
// generated schemas. Private keys go up once and never come back.
import { api, call, type Job, type Schemas } from "./client";

export type Certificate = Schemas["Certificate"];
export type CertificateUsage = Schemas["Usage"];
export type AcmeAccount = Schemas["AcmeAccount"];
export type DomainTls = Schemas["DomainTls"];
export type UploadRequest = Schemas["UploadInput"];
export type AccountRequest = Schemas["AccountInput"];
export type TlsMode = Schemas["TlsMode"];
export type TlsProfile = Schemas["TlsProfile"];

/** The API's expiry levels (`Certificate.expiry`), from fine to worst. */
export type ExpiryLevel = "ok" | "expiring_30" | "expiring_14" | "expiring_7" | "expired";
/** `Certificate.status`. */
export type CertificateStatus = "valid" | "pending" | "failed";
/** `Certificate.source`. */
export type CertificateSource = "upload" | "acme";

/** The ACME presets the API knows (`AccountInput.preset`). */
export type AcmePreset = "letsencrypt" | "letsencrypt-staging";

/** Payload of `certificate.changed`. */
export interface CertificateChanged {
  certificate_id: number;
  /** `uploaded`, `issued`, `renewed`, `renewal_failed`, `deleted`. */
  what: string;
  detail?: string | null;
}

export function listCertificates(): Promise<Certificate[]> {
  return call(api.GET("/api/v1/certificates"));
}

export function getCertificate(id: number): Promise<Certificate> {
  return call(api.GET("/api/v1/certificates/{id}", { params: { path: { id } } }));
}

export function uploadCertificate(body: UploadRequest): Promise<Certificate> {
  return call(api.POST("/api/v1/certificates", { body }));
}

export function deleteCertificate(id: number): Promise<void> {
  return call(api.DELETE("/api/v1/certificates/{id}", { params: { path: { id } } })) as Promise<void>;
}

export function listAcmeAccounts(): Promise<AcmeAccount[]> {
  return call(api.GET("/api/v1/certificates/acme-accounts"));
}

export function createAcmeAccount(body: AccountRequest): Promise<AcmeAccount> {
  return call(api.POST("/api/v1/certificates/acme-accounts", { body }));
}

export function domainTls(domainId: number): Promise<DomainTls> {
  return call(api.GET("/api/v1/domains/{id}/certificate", { params: { path: { id: domainId } } }));
}

/** Issue (or renew now) with ACME: a job followed live; `accountId` defaults to the only (or first) account. */
export function issueCertificate(domainId: number, accountId?: number | null): Promise<Job> {
  return call(api.POST("/api/v1/domains/{id}/certificate/issue", { params: { path: { id: domainId } }, body: accountId != null ? { account_id: accountId } : {} }));
}
