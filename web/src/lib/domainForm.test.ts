import { describe, expect, it } from "vitest";
import { formShowsField, indexedField, itemErrors } from "../components/Form";
import type { Domain } from "../api/domainTypes";
import { DOMAIN_FORM_FIELDS, domainBody, emptyDomainForm, formFromDomain, headerRow, listRow, routeRow } from "./domainForm";

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
