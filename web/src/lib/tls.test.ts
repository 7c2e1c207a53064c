import { describe, expect, it } from "vitest";
import type { Certificate } from "../api/certificates";
import { certificate } from "../test/certificates";
import {
  filterCertificates,
  LETSENCRYPT_STAGING_URL,
  LETSENCRYPT_URL,
  accountBody,
  asciiHostname,
  certificateTitle,
  certificateWarnings,
  coveringCertificates,
  coversAll,
  directoryLabel,
  domainTlsCell,
  emptyAccountForm,
  expiryLevel,
  expiryLevelAt,
  expiryView,
  nameCovers,
  uploadBody,
} from "./tls";

const NOW = Date.parse("2026-06-01T12:00:00Z");
const inDays = (d: number) => new Date(NOW + d * 86_400_000).toISOString();

const cert = (over: Partial<Certificate> = {}) => certificate(over, NOW);

describe("expiry levels", () => {
  it("warns 30, 14 and 7 days ahead, like the API", () => {
    expect(expiryLevelAt(inDays(31), NOW)).toBe("ok");
    expect(expiryLevelAt(inDays(30), NOW)).toBe("expiring_30");
    expect(expiryLevelAt(inDays(15), NOW)).toBe("expiring_30");
    expect(expiryLevelAt(inDays(14), NOW)).toBe("expiring_14");
    expect(expiryLevelAt(inDays(8), NOW)).toBe("expiring_14");
    expect(expiryLevelAt(inDays(7), NOW)).toBe("expiring_7");
    expect(expiryLevelAt(inDays(0.5), NOW)).toBe("expiring_7");
    expect(expiryLevelAt(inDays(0), NOW)).toBe("expired");
    expect(expiryLevelAt(inDays(-3), NOW)).toBe("expired");
  });

  it("takes the API's level, and computes one it does not know", () => {
    expect(expiryLevel({ expiry: "expiring_14", not_after: inDays(90) }, NOW)).toBe("expiring_14");
    expect(expiryLevel({ expiry: "someday", not_after: inDays(5) }, NOW)).toBe("expiring_7");
  });

  it("says the days left in words, with a tone per level", () => {
    expect(expiryView(cert({ days_left: 90 }), NOW)).toEqual({ level: "ok", tone: "success", text: "90 days left" });
    expect(expiryView(cert({ expiry: "expiring_30", days_left: 21 }), NOW)).toEqual({ level: "expiring_30", tone: "warning", text: "21 days left" });
    expect(expiryView(cert({ expiry: "expiring_14", days_left: 10 }), NOW).tone).toBe("warning");
    expect(expiryView(cert({ expiry: "expiring_7", days_left: 1 }), NOW)).toEqual({ level: "expiring_7", tone: "danger", text: "1 day left" });
    expect(expiryView(cert({ expiry: "expiring_7", days_left: 0 }), NOW).text).toBe("less than a day left");
    expect(expiryView(cert({ expiry: "expired", days_left: -3 }), NOW)).toEqual({ level: "expired", tone: "danger", text: "expired 3 days ago" });
    expect(expiryView(cert({ expiry: "expired", days_left: 0 }), NOW).text).toBe("expired today");
  });

  it("does not count down an ACME certificate that was never issued", () => {
    expect(expiryView(cert({ source: "acme", status: "pending", fingerprint: "", expiry: "expired", days_left: 0 }), NOW)).toEqual({
      level: "none",
      tone: "neutral",
      text: "not issued yet",
    });
  });
});

describe("certificate warnings", () => {
  it("is quiet when every certificate is fine", () => {
    expect(certificateWarnings([cert(), cert({ id: 2, source: "acme", status: "pending", fingerprint: "", expiry: "expired" })], NOW)).toBeNull();
  });

  it("lists expired and expiring certificates worst first, and failed renewals", () => {
    const w = certificateWarnings(
      [
        cert({ id: 1, name: "a", expiry: "expiring_30", days_left: 20 }),
        cert({ id: 2, name: "b", expiry: "expiring_7", days_left: 3 }),
        cert({ id: 3, name: "c", expiry: "expiring_30", days_left: 25 }),
        cert({ id: 4, name: "d", source: "acme", expiry: "ok", last_error: "the CA refused: urn:ietf:params:acme:error:unauthorized: no" }),
      ],
      NOW,
    );
    expect(w?.tone).toBe("danger");
    expect(w?.lines.map((l) => [l.level, l.text, l.certificates.map((c) => c.name)])).toEqual([
      ["expiring_7", "1 certificate expires within 7 days", ["b"]],
      ["expiring_30", "2 certificates expire within 30 days", ["a", "c"]],
      ["failed", "1 certificate failed to be issued or renewed", ["d"]],
    ]);
  });

  it("is a warning only for the 14 and 30 day levels", () => {
    const w = certificateWarnings([cert({ expiry: "expiring_14", days_left: 12 })], NOW);
    expect(w).toEqual({ tone: "warning", lines: [expect.objectContaining({ level: "expiring_14", text: "1 certificate expires within 14 days" })] });
    expect(certificateWarnings([cert({ expiry: "expired", days_left: -1 })], NOW)?.lines[0].text).toBe("1 certificate has expired");
  });
});

describe("names a certificate covers", () => {
  it("matches exact names without regard to case", () => {
    expect(nameCovers("www.example.com", "www.example.com")).toBe(true);
    expect(nameCovers("WWW.Example.com", "www.example.COM")).toBe(true);
    expect(nameCovers("www.example.com", "example.com")).toBe(false);
  });

  it("lets a wildcard cover exactly one extra left label", () => {
    expect(nameCovers("*.example.com", "a.example.com")).toBe(true);
    expect(nameCovers("*.EXAMPLE.com", "A.example.COM")).toBe(true);
    expect(nameCovers("*.example.com", "example.com")).toBe(false);
    expect(nameCovers("*.example.com", "a.b.example.com")).toBe(false);
    expect(nameCovers("*.example.com", "*.example.com")).toBe(false);
    expect(nameCovers("*.example.com", "a.example.org")).toBe(false);
  });

  it("needs every name covered", () => {
    expect(coversAll(["example.com", "*.example.com"], ["example.com", "www.example.com"])).toBe(true);
    expect(coversAll(["*.example.com"], ["example.com", "www.example.com"])).toBe(false);
    expect(coversAll(["*.example.com"], [])).toBe(false);
  });

  it("compares internationalized names in their ASCII form", () => {
    expect(asciiHostname(" Bücher.Example ")).toBe("xn--bcher-kva.example");
    expect(asciiHostname("*.bücher.example")).toBe("*.xn--bcher-kva.example");
    expect(asciiHostname("shop.example.com.")).toBe("shop.example.com");
  });

  it("offers issued uploaded certificates covering the domain and its aliases, latest expiry first", () => {
    const certs = [
      cert({ id: 1, name: "wild-old", names: ["*.example.com"], not_after: inDays(20) }),
      cert({ id: 2, name: "exact", names: ["shop.example.com", "www.shop.example.com"], not_after: inDays(200) }),
      cert({ id: 3, name: "wild-new", names: ["*.example.com", "example.com"], not_after: inDays(80) }),
      cert({ id: 4, name: "acme", source: "acme", names: ["shop.example.com"], not_after: inDays(300) }),
      cert({ id: 5, name: "other", names: ["*.example.org"] }),
    ];
    expect(coveringCertificates(certs, ["shop.example.com"]).map((c) => c.name)).toEqual(["exact", "wild-new", "wild-old"]);
    // The alias one label deeper is not covered by the wildcards.
    expect(coveringCertificates(certs, ["shop.example.com", "www.shop.example.com"]).map((c) => c.name)).toEqual(["exact"]);
    expect(coveringCertificates(certs, ["example.com"]).map((c) => c.name)).toEqual(["wild-new"]);
    expect(coveringCertificates(certs, [])).toEqual([]);
    expect(coveringCertificates([cert({ names: ["xn--bcher-kva.example"] })], ["bücher.example"])).toHaveLength(1);
  });
});

describe("form bodies", () => {
  it("lets the API name an upload when the name is empty", () => {
    expect(uploadBody({ name: "  ", certificate: "C", private_key: "K" })).toEqual({ name: null, certificate: "C", private_key: "K" });
    expect(uploadBody({ name: " shop 2027 ", certificate: "C", private_key: "K" }).name).toBe("shop 2027");
  });

  it("sends a preset, or a custom directory with its CA bundle", () => {
    expect(accountBody({ ...emptyAccountForm(), name: " le ", contact: " ops@example.com ", directory_url: "ignored", ca_bundle: "ignored" })).toEqual({
      name: "le",
      preset: "letsencrypt",
      directory_url: null,
      contact: "ops@example.com",
      ca_bundle: null,
    });
    expect(accountBody({ ...emptyAccountForm(), name: "staging", directory: "letsencrypt-staging" })).toMatchObject({ preset: "letsencrypt-staging", contact: null });
    expect(accountBody({ name: "corp", directory: "custom", directory_url: " https://acme.corp/dir ", contact: "", ca_bundle: "PEM" })).toEqual({
      name: "corp",
      preset: null,
      directory_url: "https://acme.corp/dir",
      contact: null,
      ca_bundle: "PEM",
    });
    expect(accountBody({ name: "corp", directory: "custom", directory_url: "", contact: "", ca_bundle: "  " }).ca_bundle).toBeNull();
  });

  it("names the known directories", () => {
    expect(directoryLabel(LETSENCRYPT_URL)).toBe("Let's Encrypt");
    expect(directoryLabel(LETSENCRYPT_STAGING_URL)).toBe("Let's Encrypt (staging)");
    expect(directoryLabel("https://acme.corp/dir")).toBe("https://acme.corp/dir");
  });
});

describe("a domain's HTTPS in the domain list", () => {
  const dom = (options: { tls?: "none" | "certificate" | "acme"; certificate_id?: number | null }, id = 7) => ({ id, options });
  const uploaded = cert({ id: 3, name: "shop wildcard", names: ["*.example.com", "example.com"] });
  const acme = (over: Partial<Certificate> = {}) => cert({ id: 9, source: "acme", domain_id: 7, name: "shop.example.com", ...over });

  it("shows nothing for plain HTTP", () => {
    expect(domainTlsCell(dom({ tls: "none" }), [uploaded])).toEqual({ kind: "none" });
    expect(domainTlsCell(dom({}), [uploaded])).toEqual({ kind: "none" });
  });

  it("shows the uploaded certificate the domain names", () => {
    expect(domainTlsCell(dom({ tls: "certificate", certificate_id: 3 }), [acme(), uploaded])).toEqual({ kind: "served", mode: "certificate", certificate: uploaded });
    expect(certificateTitle(uploaded)).toBe("shop wildcard (*.example.com, example.com)");
  });

  it("says when the uploaded certificate is missing (deleted)", () => {
    expect(domainTlsCell(dom({ tls: "certificate", certificate_id: 4 }), [uploaded])).toMatchObject({ kind: "note", mode: "certificate", tone: "danger", text: "certificate missing" });
    expect(domainTlsCell(dom({ tls: "certificate", certificate_id: null }), [])).toMatchObject({ kind: "note", text: "certificate missing" });
  });

  it("shows the ACME certificate issued for this domain, not another domain's", () => {
    const mine = acme();
    expect(domainTlsCell(dom({ tls: "acme" }), [acme({ id: 8, domain_id: 6 }), uploaded, mine])).toEqual({ kind: "served", mode: "acme", certificate: mine });
  });

  it("says an ACME certificate is not issued yet (none, or pending without material)", () => {
    const pending = { kind: "note", mode: "acme", tone: "neutral", text: "ACME: not issued yet" };
    expect(domainTlsCell(dom({ tls: "acme" }), [uploaded, acme({ domain_id: 6 })])).toEqual(pending);
    expect(domainTlsCell(dom({ tls: "acme" }), [acme({ status: "pending", fingerprint: "", expiry: "not_issued" })])).toEqual(pending);
  });

  it("says a failed ACME issuance with the CA's error as title, keeping a still-served certificate", () => {
    expect(domainTlsCell(dom({ tls: "acme" }), [acme({ status: "failed", fingerprint: "", last_error: "urn:ietf:params:acme:error:dns: NXDOMAIN" })])).toEqual({
      kind: "note",
      mode: "acme",
      tone: "danger",
      text: "ACME failed",
      title: "urn:ietf:params:acme:error:dns: NXDOMAIN",
    });
    const renewing = acme({ status: "failed", last_error: "rate limited" });
    expect(domainTlsCell(dom({ tls: "acme" }), [renewing])).toEqual({ kind: "served", mode: "acme", certificate: renewing, failed: { title: "rate limited" } });
  });

  it("shows only the mode when the certificates could not be read", () => {
    expect(domainTlsCell(dom({ tls: "acme" }), null)).toEqual({ kind: "mode", mode: "acme" });
    expect(domainTlsCell(dom({ tls: "certificate", certificate_id: 3 }), null)).toEqual({ kind: "mode", mode: "certificate" });
  });
});

describe("URL filters of the certificates list", () => {
  it("keeps one expiry level and/or the failing renewals", () => {
    const certs = [
      certificate({ id: 1, expiry: "expiring_14", days_left: 10 }),
      certificate({ id: 2, expiry: "ok", days_left: 200, failures: 1 }),
      certificate({ id: 3, expiry: "expiring_14", days_left: 12, failures: 2 }),
    ];
    const ids = (f: { expiry: string; renewal: string }) => filterCertificates(certs, f).map((c) => c.id);
    expect(ids({ expiry: "", renewal: "" })).toEqual([1, 2, 3]);
    expect(ids({ expiry: "expiring_14", renewal: "" })).toEqual([1, 3]);
    expect(ids({ expiry: "", renewal: "failing" })).toEqual([2, 3]);
    expect(ids({ expiry: "expiring_14", renewal: "failing" })).toEqual([3]);
  });
});
