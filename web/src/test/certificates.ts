// Certificates for tests: valid for 90 days from `now` unless overridden.
// `not_after` follows `days_left` when only that is given, so orderings by
// expiry match what the test says (and never depend on the clock ticking
// between two calls).
import type { Certificate } from "../api/certificates";

export function certificate(over: Partial<Certificate> = {}, now = Date.now()): Certificate {
  const inDays = (d: number) => new Date(now + d * 86_400_000).toISOString();
  const days = over.days_left ?? 90;
  return {
    id: 1,
    name: "shop",
    source: "upload",
    names: ["shop.example.com"],
    issuer: "R11",
    serial: "0a1b",
    not_before: inDays(-60),
    not_after: inDays(days),
    days_left: days,
    expiry: "ok",
    fingerprint: "ab:cd",
    status: "valid",
    failures: 0,
    used_by: [],
    created_at: inDays(-60),
    updated_at: inDays(-60),
    ...over,
  };
}
