import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import type { AcmeAccount, Certificate } from "../api/certificates";
import { certificate } from "../test/certificates";
import { emit, FakeApi, renderApp } from "../test/harness";
import { CertificatesPage } from "./CertificatesPage";

const KEY = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRETSECRET\n-----END PRIVATE KEY-----\n";

const account = (over: Partial<AcmeAccount> = {}): AcmeAccount => ({
  id: 1,
  name: "letsencrypt",
  directory_url: "https://acme-v02.api.letsencrypt.org/directory",
  contact: "ops@example.com",
  custom_ca: false,
  registered: true,
  created_at: "2026-01-01T00:00:00Z",
  ...over,
});

const LIST: Certificate[] = [
  certificate({
    id: 3,
    name: "api.example.com (ACME)",
    source: "acme",
    names: ["api.example.com"],
    expiry: "expiring_7",
    days_left: 5,
    status: "valid",
    failures: 2,
    last_error: "the CA refused: urn:ietf:params:acme:error:rateLimited: too many certificates",
    used_by: [{ domain_id: 8, domain: "api.example.com", server_id: 2, server: "edge-1" }],
  }),
  certificate({ id: 1, name: "wildcard", names: ["*.example.com", "example.com"], expiry: "expiring_30", days_left: 21, issuer: "Example CA" }),
  certificate({ id: 2, name: "shop", expiry: "ok", days_left: 300, used_by: [{ domain_id: 5, domain: "shop.example.com", server_id: null, server: null }] }),
];

afterEach(() => vi.restoreAllMocks());

function fakeApi(certs: () => Certificate[] = () => LIST, accounts: () => AcmeAccount[] = () => [account()]) {
  return new FakeApi().on("GET", "/api/v1/certificates", certs).on("GET", "/api/v1/certificates/acme-accounts", accounts);
}

describe("CertificatesPage", () => {
  it("lists certificates with their expiry at a glance, the warnings and where they are used", async () => {
    let certs = LIST;
    const { hub } = renderApp(<CertificatesPage />, { fake: fakeApi(() => certs) });
    const table = await screen.findByRole("table", { name: "Certificates" });
    const row = (name: string) => within(table).getByRole("row", { name: new RegExp(name) });
    await within(table).findByText("wildcard");
    expect(within(row("api.example.com \\(ACME\\)")).getByText("5 days left")).toHaveAttribute("data-level", "expiring_7");
    expect(within(row("wildcard")).getByText("21 days left")).toHaveAttribute("data-level", "expiring_30");
    expect(within(row("wildcard")).getByText("issued by Example CA")).toBeInTheDocument();
    expect(within(row("wildcard")).getByText("not used")).toBeInTheDocument();
    expect(within(row("shop")).getByText("300 days left")).toHaveAttribute("data-level", "ok");
    // Used by: the domain's form (operators) and its server.
    expect(within(row("api.example.com \\(ACME\\)")).getByRole("link", { name: "api.example.com" })).toHaveAttribute("href", "/domains/8/edit");
    expect(within(row("api.example.com \\(ACME\\)")).getByRole("link", { name: "edge-1" })).toHaveAttribute("href", "/servers/2");
    expect(within(row("shop")).getByText("(no server)")).toBeInTheDocument();

    const banner = screen.getByRole("region", { name: "Certificate warnings" });
    expect(banner).toHaveClass("notice-danger");
    expect(banner).toHaveTextContent("1 certificate expires within 7 days");
    expect(banner).toHaveTextContent("1 certificate expires within 30 days");
    expect(banner).toHaveTextContent("1 certificate failed to be issued or renewed");
    expect(banner).toHaveTextContent("rateLimited: too many certificates");

    // Details: the full error, dates and fingerprint.
    await userEvent.click(within(table).getByRole("button", { name: "Details of wildcard" }));
    expect(screen.getByTestId("certificate-1-details")).toHaveTextContent("SHA-256 fingerprint");

    const accounts = await screen.findByRole("table", { name: "ACME accounts" });
    expect(within(accounts).getByText("Let's Encrypt")).toBeInTheDocument();
    expect(within(accounts).getByText("registered")).toBeInTheDocument();

    // Live: a renewal re-reads the list.
    certs = LIST.map((c) => (c.id === 3 ? { ...c, expiry: "ok", days_left: 89, last_error: null, failures: 0 } : c));
    emit(hub, "certificate.changed", { certificate_id: 3, what: "renewed" }, "3");
    await waitFor(() => expect(within(row("api.example.com \\(ACME\\)")).getByText("89 days left")).toBeInTheDocument());
    expect(screen.getByRole("region", { name: "Certificate warnings" })).toHaveClass("notice-warning");
    expect(screen.getByRole("region", { name: "Certificate warnings" })).not.toHaveTextContent("failed");
  });

  it("reads the expiry and renewal filters from the URL (a dashboard tile's link)", async () => {
    const fake = new FakeApi().on("GET", "/api/v1/certificates", () => LIST).on("GET", "/api/v1/certificates/acme-accounts", () => []);
    renderApp(<CertificatesPage />, { fake, path: "/certificates?expiry=expiring_30" });
    const table = await screen.findByRole("table", { name: "Certificates" });
    await within(table).findByText("wildcard");
    expect(within(table).queryByText("shop")).toBeNull();
    expect(within(table).queryByText("api.example.com (ACME)")).toBeNull();
    expect(screen.getByLabelText("Expiry")).toHaveValue("expiring_30");
    await userEvent.selectOptions(screen.getByLabelText("Expiry"), "");
    await userEvent.selectOptions(screen.getByLabelText("Renewal"), "failing");
    await within(table).findByText("api.example.com (ACME)");
    expect(within(table).queryByText("wildcard")).toBeNull();
    await userEvent.selectOptions(screen.getByLabelText("Expiry"), "ok");
    expect(await screen.findByRole("heading", { name: "No certificates match these filters" })).toBeInTheDocument();
  });

  it("has no banner when nothing expires within 30 days", async () => {
    renderApp(<CertificatesPage />, { fake: fakeApi(() => [LIST[2]]) });
    await screen.findByText("300 days left");
    expect(screen.queryByRole("region", { name: "Certificate warnings" })).not.toBeInTheDocument();
  });

  it("uploads a certificate: field errors from the API next to their fields, the rejected key cleared", async () => {
    let certs: Certificate[] = [];
    const fake = fakeApi(() => certs, () => []).on("POST", "/api/v1/certificates", ({ body }) => {
      const b = body as { certificate: string; private_key: string; name: string | null };
      if (!b.certificate.includes("BEGIN CERTIFICATE"))
        throw new ApiError({ status: 422, code: "validation_failed", detail: "invalid", errors: [{ field: "certificate", message: "is not a PEM certificate" }] });
      if (b.private_key.includes("WRONG"))
        throw new ApiError({ status: 422, code: "validation_failed", detail: "invalid", errors: [{ field: "private_key", message: "does not match the certificate" }] });
      certs = [certificate({ id: 9, name: b.name ?? "panel.example.test 2026-12-31" })];
      return certs[0];
    });
    renderApp(<CertificatesPage />, { fake });
    expect(await screen.findByRole("heading", { name: "No certificates yet" })).toBeInTheDocument();
    expect(screen.getByRole("heading", { name: "No ACME accounts yet" })).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Upload certificate" }));
    const dialog = screen.getByRole("dialog", { name: "Upload certificate" });
    const certField = within(dialog).getByLabelText("Certificate (PEM)");
    const keyField = within(dialog).getByLabelText("Private key (PEM)");
    await userEvent.click(certField);
    await userEvent.paste("not a certificate");
    await userEvent.click(keyField);
    await userEvent.paste(KEY);
    await userEvent.click(within(dialog).getByRole("button", { name: "Upload certificate" }));
    await waitFor(() => expect(certField).toHaveAttribute("aria-invalid", "true"));
    expect(certField).toHaveAccessibleDescription("is not a PEM certificate");
    expect(within(dialog).getByRole("alert")).toHaveTextContent("Please correct the highlighted fields.");
    expect(keyField).toHaveValue(KEY);

    await userEvent.clear(certField);
    await userEvent.click(certField);
    await userEvent.paste("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    await userEvent.clear(keyField);
    await userEvent.click(keyField);
    await userEvent.paste("WRONG");
    await userEvent.click(within(dialog).getByRole("button", { name: "Upload certificate" }));
    await waitFor(() => expect(keyField).toHaveAccessibleDescription("does not match the certificate"));
    expect(keyField).toHaveValue("");
    expect(certField).not.toHaveAttribute("aria-invalid");

    // A file fills the key field (jsdom's File has no text()).
    const file = Object.assign(new File([KEY], "key.pem", { type: "application/x-pem-file" }), { text: async () => KEY });
    await userEvent.upload(within(dialog).getByLabelText("Private key file"), file);
    await waitFor(() => expect(keyField).toHaveValue(KEY));
    await userEvent.click(within(dialog).getByRole("button", { name: "Upload certificate" }));
    expect(await screen.findByText("Certificate “panel.example.test 2026-12-31” uploaded")).toBeInTheDocument();
    expect(fake.callsTo("POST", "/api/v1/certificates").at(-1)?.body).toEqual({ name: null, certificate: expect.stringContaining("BEGIN CERTIFICATE"), private_key: KEY });
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(await screen.findByRole("row", { name: /panel\.example\.test 2026-12-31/ })).toBeInTheDocument();
    // The key is nowhere on the page any more.
    expect(document.body.innerHTML).not.toContain("SECRETSECRET");
    await userEvent.click(screen.getByRole("button", { name: "Upload certificate" }));
    expect(within(screen.getByRole("dialog", { name: "Upload certificate" })).getByLabelText("Private key (PEM)")).toHaveValue("");
  });

  it("deletes with a confirmation, and shows why the API refuses", async () => {
    const fake = fakeApi().on("DELETE", "/api/v1/certificates/{id}", ({ params }) => {
      if (params?.path?.id === 2)
        throw new ApiError({
          status: 409,
          code: "conflict",
          detail: "the certificate is served for shop.example.com; switch those domains to another certificate first",
          errors: [{ field: "id", message: "the certificate is served for shop.example.com" }],
        });
      return undefined;
    });
    renderApp(<CertificatesPage />, { fake });
    await screen.findByText("300 days left");
    await userEvent.click(screen.getByRole("button", { name: "Delete shop" }));
    const confirm = screen.getByRole("alertdialog", { name: "Delete certificate “shop”?" });
    expect(confirm).toHaveTextContent("Served for: shop.example.com.");
    await userEvent.click(within(confirm).getByRole("button", { name: "Delete certificate" }));
    expect(await within(confirm).findByRole("alert")).toHaveTextContent("switch those domains to another certificate first");
    await userEvent.click(within(confirm).getByRole("button", { name: "Cancel" }));

    await userEvent.click(screen.getByRole("button", { name: "Delete wildcard" }));
    await userEvent.click(within(screen.getByRole("alertdialog", { name: "Delete certificate “wildcard”?" })).getByRole("button", { name: "Delete certificate" }));
    expect(await screen.findByText("Certificate “wildcard” deleted")).toBeInTheDocument();
    expect(fake.callsTo("DELETE", "/api/v1/certificates/{id}").map((c) => c.params)).toEqual([{ path: { id: 2 } }, { path: { id: 1 } }]);
  });

  it("adds ACME accounts: a preset, or a custom directory with a CA bundle", async () => {
    let accounts: AcmeAccount[] = [];
    const fake = fakeApi(() => [], () => accounts).on("POST", "/api/v1/certificates/acme-accounts", ({ body }) => {
      const b = body as { name: string; directory_url: string | null; preset: string | null };
      if (b.preset == null && !b.directory_url?.startsWith("https://"))
        throw new ApiError({ status: 422, code: "validation_failed", detail: "invalid", errors: [{ field: "directory_url", message: "must be an https:// URL" }] });
      const a = account({ id: accounts.length + 1, name: b.name, directory_url: b.directory_url ?? "https://acme-staging-v02.api.letsencrypt.org/directory", registered: false });
      accounts = [...accounts, a];
      return a;
    });
    renderApp(<CertificatesPage />, { fake });
    await userEvent.click(await screen.findByRole("button", { name: "Add ACME account" }));
    let dialog = screen.getByRole("dialog", { name: "Add ACME account" });
    await userEvent.type(within(dialog).getByLabelText("Name"), "staging");
    await userEvent.selectOptions(within(dialog).getByLabelText("Directory"), "letsencrypt-staging");
    expect(within(dialog).getByText("https://acme-staging-v02.api.letsencrypt.org/directory")).toBeInTheDocument();
    expect(within(dialog).queryByLabelText("Directory URL")).not.toBeInTheDocument();
    await userEvent.type(within(dialog).getByLabelText("Contact e-mail"), "ops@example.com");
    await userEvent.click(within(dialog).getByRole("button", { name: "Add account" }));
    expect(await screen.findByText("ACME account “staging” added")).toBeInTheDocument();
    expect(fake.callsTo("POST", "/api/v1/certificates/acme-accounts")[0].body).toEqual({
      name: "staging",
      preset: "letsencrypt-staging",
      directory_url: null,
      contact: "ops@example.com",
      ca_bundle: null,
    });
    const table = screen.getByRole("table", { name: "ACME accounts" });
    await within(table).findByText("Let's Encrypt (staging)");
    expect(within(table).getByText("at first issuance")).toBeInTheDocument();

    await userEvent.click(screen.getByRole("button", { name: "Add ACME account" }));
    dialog = screen.getByRole("dialog", { name: "Add ACME account" });
    await userEvent.type(within(dialog).getByLabelText("Name"), "corp");
    await userEvent.selectOptions(within(dialog).getByLabelText("Directory"), "custom");
    await userEvent.type(within(dialog).getByLabelText("Directory URL"), "http://acme.corp/dir");
    await userEvent.click(within(dialog).getByLabelText("CA bundle (PEM)"));
    await userEvent.paste("-----BEGIN CERTIFICATE-----\nROOT\n-----END CERTIFICATE-----\n");
    await userEvent.click(within(dialog).getByRole("button", { name: "Add account" }));
    await waitFor(() => expect(within(dialog).getByLabelText("Directory URL")).toHaveAccessibleDescription("must be an https:// URL"));
    await userEvent.clear(within(dialog).getByLabelText("Directory URL"));
    await userEvent.type(within(dialog).getByLabelText("Directory URL"), "https://acme.corp/dir");
    await userEvent.click(within(dialog).getByRole("button", { name: "Add account" }));
    await within(table).findByText("https://acme.corp/dir");
    expect(fake.callsTo("POST", "/api/v1/certificates/acme-accounts").at(-1)?.body).toMatchObject({ preset: null, directory_url: "https://acme.corp/dir", ca_bundle: expect.stringContaining("ROOT") });
  });

  it("is read-only for viewers", async () => {
    renderApp(<CertificatesPage />, { fake: fakeApi(), role: "viewer" });
    const table = await screen.findByRole("table", { name: "Certificates" });
    await within(table).findByText("wildcard");
    expect(screen.queryByRole("button", { name: "Upload certificate" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Add ACME account" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /^Delete/ })).not.toBeInTheDocument();
    // Viewers cannot open the domain form: the link searches the domains list.
    expect(within(table).getByRole("link", { name: "api.example.com" })).toHaveAttribute("href", "/domains?q=api.example.com");
  });
});
