import { describe, expect, it } from "vitest";
import { formShowsField, indexedField, itemErrors } from "../components/Form";
import type { Domain } from "../api/domainTypes";
import { DOMAIN_FORM_FIELDS, domainBody, emptyDomainForm, formFromDomain, headerRow, listRow, routeRow, servedNames } from "./domainForm";

const domain: Domain = {
  id: 7,
  group: { id: 3, name: "shop" },
  server: { id: 1, name: "edge-1" },
  name: "xn--bcher-kva.example",
  name_unicode: "bücher.example",
  target_ip: "10.0.0.5",
  target_port: 8080,
  scheme: "http",
  aliases: ["www.xn--bcher-kva.example"],
  enabled: true,
  options: {
    websocket: true,
    redirect_https: false,
    hsts: false,
    hsts_max_age: 31536000,
    max_body_size_mb: 20,
    proxy_connect_timeout: null,
    proxy_read_timeout: 60,
    proxy_send_timeout: null,
    response_headers: [{ name: "X-Frame-Options", value: "DENY" }],
    allow: ["192.0.2.0/24"],
    deny: [],
  },
  routes: [{ path: "/api", target_ip: "10.0.0.6", target_port: 9000, scheme: "https" }],
  version: 4,
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-02T00:00:00Z",
};

describe("indexed field names", () => {
  it("builds and matches the API's indexed field names", () => {
    expect(indexedField("routes", 0, "path")).toBe("routes[0].path");
    expect(indexedField("aliases", 1)).toBe("aliases[1]");
    expect(formShowsField(DOMAIN_FORM_FIELDS, "aliases[1]")).toBe(true);
    expect(formShowsField(DOMAIN_FORM_FIELDS, "options.response_headers[0].value")).toBe(true);
    expect(formShowsField(DOMAIN_FORM_FIELDS, "routes[0].path")).toBe(true);
    expect(formShowsField(DOMAIN_FORM_FIELDS, "name")).toBe(true);
    expect(formShowsField(DOMAIN_FORM_FIELDS, "certificate")).toBe(false);
    // "aliases[" does not swallow other fields starting with "aliases".
    expect(formShowsField(["aliases["], "aliases_extra")).toBe(false);
  });

  it("collects one item's own and sub-field errors, not its neighbours'", () => {
    const errors = [
      { field: "routes[0].path", message: "must start with /" },
      { field: "routes[0].target_port", message: "must be 1–65535" },
      { field: "routes[1].path", message: "duplicate" },
      { field: "routes[10]", message: "other" },
      { field: "options.allow[2]", message: "not a CIDR" },
    ];
    expect(itemErrors(errors, "routes", 0)).toBe("must start with /; must be 1–65535");
    expect(itemErrors(errors, "routes", 1)).toBe("duplicate");
    expect(itemErrors(errors, "options.allow", 2)).toBe("not a CIDR");
    expect(itemErrors(errors, "options.allow", 0)).toBeUndefined();
  });
});

describe("domain form values", () => {
  it("round-trips a domain into the request body", () => {
    const v = formFromDomain(domain);
    expect(v.name).toBe("bücher.example");
    const body = domainBody(v);
    expect(body).toMatchObject({
      group_id: 3,
      name: "bücher.example",
      target_ip: "10.0.0.5",
      target_port: 8080,
      scheme: "http",
      aliases: ["www.xn--bcher-kva.example"],
      enabled: true,
      routes: [{ path: "/api", target_ip: "10.0.0.6", target_port: 9000, scheme: "https" }],
    });
    expect(body.options).toMatchObject({ websocket: true, max_body_size_mb: 20, proxy_connect_timeout: null, proxy_read_timeout: 60, allow: ["192.0.2.0/24"], response_headers: [{ name: "X-Frame-Options", value: "DENY" }] });
  });

  it("keeps row indexes aligned with the list sent (inner empty rows stay, trailing ones go)", () => {
    const v = { ...emptyDomainForm("2"), aliases: [listRow("a.example"), listRow(""), listRow("c.example"), listRow(" ")] };
    expect(domainBody(v).aliases).toEqual(["a.example", "", "c.example"]);
  });

  it("sends numbers as numbers and anything else as typed, for the API to judge", () => {
    const v = { ...emptyDomainForm("2"), target_port: "80x", routes: [routeRow({ path: "/x", target_ip: "1.2.3.4", target_port: "81" })], response_headers: [headerRow("X-A", "1")] };
    const body = domainBody(v);
    expect(body.target_port).toBe("80x");
    expect(body.routes).toEqual([{ path: "/x", target_ip: "1.2.3.4", target_port: 81, scheme: "http" }]);
    expect(body.options?.max_body_size_mb).toBeNull();
  });
});

describe("domain form TLS options", () => {
  it("defaults to plain HTTP with the intermediate profile (also for domains stored before TLS existed)", () => {
    const v = formFromDomain(domain);
    expect(v).toMatchObject({ tls: "none", certificate_id: "", http2: false, tls_profile: "intermediate", redirect_https: false, hsts: false, hsts_max_age: "31536000" });
    expect(emptyDomainForm()).toMatchObject({ tls: "none", certificate_id: "", http2: false, tls_profile: "intermediate" });
    expect(domainBody(v).options).toMatchObject({ tls: "none", certificate_id: null, http2: false, tls_profile: "intermediate" });
  });

  it("round-trips an uploaded certificate with redirect, HSTS, HTTP/2 and the modern profile", () => {
    const d: Domain = {
      ...domain,
      options: { ...domain.options, tls: "certificate", certificate_id: 12, redirect_https: true, hsts: true, hsts_max_age: 600, http2: true, tls_profile: "modern" },
    };
    const v = formFromDomain(d);
    expect(v).toMatchObject({ tls: "certificate", certificate_id: "12", redirect_https: true, hsts: true, hsts_max_age: "600", http2: true, tls_profile: "modern" });
    expect(domainBody(v).options).toMatchObject({ tls: "certificate", certificate_id: 12, redirect_https: true, hsts: true, hsts_max_age: 600, http2: true, tls_profile: "modern" });
  });

  it("sends the certificate only with the uploaded-certificate mode", () => {
    const v = { ...emptyDomainForm("2"), tls: "acme" as const, certificate_id: "12" };
    expect(domainBody(v).options).toMatchObject({ tls: "acme", certificate_id: null });
    expect(domainBody({ ...v, tls: "certificate" }).options?.certificate_id).toBe(12);
    // None chosen: null, and the API says the field is required.
    expect(domainBody({ ...v, tls: "certificate", certificate_id: "" }).options?.certificate_id).toBeNull();
  });

  it("names what a certificate must cover: the name and the non-empty aliases", () => {
    expect(servedNames({ name: " shop.example.com ", aliases: [listRow("www.shop.example.com"), listRow(" "), listRow("m.shop.example.com")] })).toEqual([
      "shop.example.com",
      "www.shop.example.com",
      "m.shop.example.com",
    ]);
    expect(servedNames({ name: "", aliases: [] })).toEqual([]);
  });

  it("shows the API's TLS field errors on the form", () => {
    expect(formShowsField(DOMAIN_FORM_FIELDS, "options.certificate_id")).toBe(true);
    expect(formShowsField(DOMAIN_FORM_FIELDS, "options.tls_profile")).toBe(true);
  });
});
