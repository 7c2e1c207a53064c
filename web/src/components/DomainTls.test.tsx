import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, type Job } from "../api/client";
import type { DomainTls } from "../api/certificates";
import type { Domain, DomainOptions } from "../api/domainTypes";
import { DomainFormPage } from "../pages/DomainFormPage";
import { certificate } from "../test/certificates";
import { emit, FakeApi, renderApp } from "../test/harness";

const GROUP = { id: 3, name: "shop", description: "", server: { id: 2, name: "edge-1" }, domain_count: 0, manual_approval: false, auto_repair: false, version: 1, created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z" };

const OPTIONS: DomainOptions = {
  websocket: false,
  redirect_https: false,
  hsts: false,
  hsts_max_age: 31536000,
  max_body_size_mb: null,
  proxy_connect_timeout: null,
  proxy_read_timeout: null,
  proxy_send_timeout: null,
  response_headers: [],
  allow: [],
  deny: [],
};

const domain = (options: Partial<DomainOptions>): Domain => ({
  id: 7,
  group: { id: 3, name: "shop" },
  server: { id: 2, name: "edge-1" },
  name: "shop.example.com",
  name_unicode: "shop.example.com",
  target_ip: "10.0.0.5",
  target_port: 8080,
  scheme: "http",
  aliases: [],
  enabled: true,
  options: { ...OPTIONS, ...options },
  routes: [],
  version: 4,
  created_at: "2026-01-01T00:00:00Z",
  updated_at: "2026-01-02T00:00:00Z",
});

const CERTS = [
  certificate({ id: 1, name: "wildcard", names: ["*.example.com"], days_left: 40 }),
  certificate({ id: 2, name: "exact", names: ["shop.example.com", "www.shop.example.com"], expiry: "expiring_14", days_left: 12 }),
  certificate({ id: 3, name: "other", names: ["*.example.org"] }),
  certificate({ id: 4, name: "shop.example.com (ACME)", source: "acme", names: ["shop.example.com"] }),
];

const job = (over: Partial<Job>): Job => ({ id: 51, kind: "tls.issue", status: "queued", progress: 0, message: null, log: [], result: null, error: null, ...over }) as unknown as Job;

afterEach(() => vi.restoreAllMocks());

function fakeApi() {
  return new FakeApi()
    .on("GET", "/api/v1/domain-groups", () => ({ items: [GROUP], next: null }))
    .on("GET", "/api/v1/certificates", () => CERTS)
    .on("GET", "/api/v1/certificates/acme-accounts", () => [{ id: 1, name: "le", directory_url: "https://acme-v02.api.letsencrypt.org/directory", custom_ca: false, registered: true, created_at: "2026-01-01T00:00:00Z" }])
    .on("GET", "/api/v1/domains/{id}/proxy", () => ({ domain_id: 7, server_id: 2, live_number: 3, up_to_date: true, served: true, detail: "served by generation 3" }));
}

describe("domain form TLS section", () => {
  it("offers the uploaded certificates covering the typed names and sends the TLS options", async () => {
    const fake = fakeApi().on("POST", "/api/v1/domains", ({ body }) => {
      const b = body as { options: { certificate_id: number | null } };
      if (b.options.certificate_id === 1)
        throw new ApiError({ status: 422, code: "validation_failed", detail: "invalid", errors: [{ field: "options.certificate_id", message: "does not cover www.shop.example.com" }] });
      return domain({ tls: "certificate", certificate_id: 2 });
    });
    renderApp(<DomainFormPage />, { fake, path: "/domains/new?group=3" });
    const form = await screen.findByRole("form", { name: "Add domain" });
    await userEvent.type(within(form).getByLabelText("Name"), "shop.example.com");
    await userEvent.type(within(form).getByLabelText("Target IP"), "10.0.0.5");
    expect(within(form).getByRole("radio", { name: /^None/ })).toBeChecked();
    expect(within(form).getByLabelText("HTTP/2")).toBeDisabled();
    expect(within(form).getByLabelText("TLS profile")).toBeDisabled();

    await userEvent.click(within(form).getByRole("radio", { name: /^Uploaded certificate/ }));
    const picker = within(form).getByLabelText("Certificate");
    // Covering ones only (not *.example.org, not ACME ones), latest expiry first, the first preselected.
    expect(within(picker).getAllByRole("option").map((o) => o.textContent)).toEqual([
      "Choose a certificate…",
      "wildcard (*.example.com; 40 days left)",
      "exact (shop.example.com, www.shop.example.com; 12 days left)",
    ]);
    expect(picker).toHaveValue("1");
    // An alias one label deeper is not covered by the wildcard.
    await userEvent.click(within(form).getByRole("button", { name: "Add alias" }));
    await userEvent.type(within(form).getByRole("textbox", { name: "Aliases 1" }), "www.shop.example.com");
    expect(within(picker).getAllByRole("option").map((o) => o.textContent)).toEqual([
      "Choose a certificate…",
      "exact (shop.example.com, www.shop.example.com; 12 days left)",
      "Certificate #1 (does not cover these names)",
    ]);
    await userEvent.click(within(form).getByRole("button", { name: "Add domain" }));
    await waitFor(() => expect(picker).toHaveAccessibleDescription("does not cover www.shop.example.com"));

    await userEvent.selectOptions(picker, "2");
    await userEvent.click(within(form).getByLabelText("Redirect HTTP to HTTPS"));
    await userEvent.click(within(form).getByLabelText("HSTS"));
    await userEvent.click(within(form).getByLabelText("HTTP/2"));
    await userEvent.selectOptions(within(form).getByLabelText("TLS profile"), "modern");
    await userEvent.click(within(form).getByRole("button", { name: "Add domain" }));
    expect(await screen.findByText("Domain “shop.example.com” added")).toBeInTheDocument();
    expect(fake.callsTo("POST", "/api/v1/domains").at(-1)?.body).toMatchObject({
      name: "shop.example.com",
      aliases: ["www.shop.example.com"],
      options: { tls: "certificate", certificate_id: 2, redirect_https: true, hsts: true, hsts_max_age: 31536000, http2: true, tls_profile: "modern" },
    });
  });

  it("says when no uploaded certificate covers the name", async () => {
    renderApp(<DomainFormPage />, { fake: fakeApi(), path: "/domains/new?group=3" });
    const form = await screen.findByRole("form", { name: "Add domain" });
    await userEvent.type(within(form).getByLabelText("Name"), "blog.example.net");
    await userEvent.click(within(form).getByRole("radio", { name: /^Uploaded certificate/ }));
    expect(within(form).getByLabelText("Certificate")).toHaveValue("");
    expect(within(form).getByRole("option", { name: "No uploaded certificate covers these names" })).toBeInTheDocument();
    expect(within(form).getByRole("link", { name: "Certificates" })).toHaveAttribute("href", "/certificates");
  });

  it("shows the served certificate and its expiry when editing, and picks from the API's suggestions", async () => {
    const served = CERTS[1];
    const tls: DomainTls = { acme: null, suggestions: [served, CERTS[0]], serving: served };
    const fake = fakeApi()
      .on("GET", "/api/v1/domains/{id}", () => domain({ tls: "certificate", certificate_id: 2, http2: true, tls_profile: "intermediate" }))
      .on("GET", "/api/v1/domains/{id}/certificate", () => tls);
    renderApp(<DomainFormPage />, { fake, path: "/domains/7/edit", route: "/domains/:id/edit" });
    const state = await screen.findByTestId("domain-tls-serving");
    expect(state).toHaveTextContent("exact");
    expect(within(state).getByText("12 days left")).toHaveAttribute("data-level", "expiring_14");
    expect(state).toHaveTextContent("shop.example.com, www.shop.example.com");
    const picker = screen.getByLabelText("Certificate");
    expect(picker).toHaveValue("2");
    expect(within(picker).getAllByRole("option")).toHaveLength(3);
    expect(screen.getByLabelText("HTTP/2")).toBeChecked();
    expect(screen.queryByRole("button", { name: "Issue certificate now" })).not.toBeInTheDocument();
  });

  it("issues an ACME certificate now, follows the job live and shows the CA's problem when it fails", async () => {
    const caError = "the CA refused: urn:ietf:params:acme:error:unauthorized: Invalid response from http://shop.example.com/.well-known/acme-challenge/x: 404";
    let tls: DomainTls = { acme: certificate({ id: 4, source: "acme", status: "pending", fingerprint: "", expiry: "expired", days_left: 0, names: ["shop.example.com"] }), suggestions: [], serving: null };
    let jobNow = job({});
    const fake = fakeApi()
      .on("GET", "/api/v1/domains/{id}", () => domain({ tls: "acme" }))
      .on("GET", "/api/v1/domains/{id}/certificate", () => tls)
      .on("POST", "/api/v1/domains/{id}/certificate/issue", () => jobNow)
      .on("GET", "/api/v1/jobs/{id}", () => jobNow);
    const { hub } = renderApp(<DomainFormPage />, { fake, path: "/domains/7/edit", route: "/domains/:id/edit" });
    expect(await screen.findByTestId("domain-tls-none")).toHaveTextContent("No certificate yet");
    expect(screen.getByText("waiting for its first issuance")).toBeInTheDocument();

    await userEvent.click(screen.getByRole("button", { name: "Issue certificate now" }));
    expect(fake.callsTo("POST", "/api/v1/domains/{id}/certificate/issue")[0]).toMatchObject({ params: { path: { id: 7 } }, body: {} });
    expect(await screen.findByText("Issuing the certificate")).toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Issuing…" })).toBeDisabled();
    emit(hub, "job.updated", { job_id: 51, kind: "tls.issue", status: "running", progress: 40, message: "answering the HTTP-01 challenge through edge-1" });
    expect(await screen.findByText("answering the HTTP-01 challenge through edge-1", { selector: ".log-message" })).toBeInTheDocument();
    expect(screen.getByRole("progressbar", { name: "Job 51 progress" })).toHaveAttribute("aria-valuenow", "40");

    tls = { ...tls, acme: { ...tls.acme!, status: "failed", failures: 1, last_error: caError } };
    jobNow = job({ status: "failed", progress: 40, error: caError });
    emit(hub, "job.updated", { job_id: 51, kind: "tls.issue", status: "failed", progress: 40, message: null });
    await waitFor(() => expect(screen.getByTestId("proxy-job").querySelector(".code-error")).toHaveTextContent("urn:ietf:params:acme:error:unauthorized"));
    expect(await screen.findByText(/Issuing the certificate for “shop.example.com” failed/)).toBeInTheDocument();
    expect(await screen.findByTestId("domain-tls-error")).toHaveTextContent("Invalid response from http://shop.example.com");
    expect(screen.getByRole("button", { name: "Issue certificate now" })).toBeEnabled();
  });

  it("follows an issuance that is already running, and needs the form saved before issuing", async () => {
    const tls: DomainTls = { acme: certificate({ id: 4, source: "acme", status: "pending", fingerprint: "", job_id: 52 }), suggestions: [], serving: null };
    const fake = fakeApi()
      .on("GET", "/api/v1/domains/{id}", () => domain({ tls: "acme" }))
      .on("GET", "/api/v1/domains/{id}/certificate", () => tls)
      .on("GET", "/api/v1/jobs/{id}", () => job({ id: 52, status: "running", progress: 70, message: "challenges valid; finalizing with a fresh key" }));
    renderApp(<DomainFormPage />, { fake, path: "/domains/7/edit", route: "/domains/:id/edit" });
    expect(await screen.findByRole("progressbar", { name: "Job 52 progress" })).toHaveAttribute("aria-valuenow", "70");
    await userEvent.click(screen.getByRole("radio", { name: /^None/ }));
    expect(screen.getByText("Save the form first: the TLS mode is changing.")).toBeInTheDocument();
  });
});
