import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Role } from "../api/client";
import { ApiError } from "../api/client";
import type { StorageInput, StorageView } from "../api/tasks";
import { TasksPage } from "../pages/TasksPage";
import { FakeApi, renderApp } from "../test/harness";

afterEach(() => vi.restoreAllMocks());

const LOCAL: StorageView = { kind: "local", max_bytes: 25 * 1024 * 1024, s3: null };
const S3: StorageView = {
  kind: "s3",
  max_bytes: 25 * 1024 * 1024,
  s3: { bucket: "gantry-files", endpoint: "https://minio.internal:9000", region: "eu-west-1", prefix: "team", access_key_id: "AKIAEXAMPLE", allow_http: false, secret_set: true },
};

/** The Tasks page's own calls (an empty list) plus the storage setting. */
function storageApi(initial: StorageView, put: (body: StorageInput) => StorageView) {
  return new FakeApi()
    .on("GET", "/api/v1/tasks", () => ({ items: [], next: null }))
    .on("GET", "/api/v1/tasks/assignees", () => [])
    .on("GET", "/api/v1/tasks/labels", () => [])
    .on("GET", "/api/v1/tasks/storage", () => initial)
    .on("PUT", "/api/v1/tasks/storage", ({ body }) => put(body as StorageInput));
}

async function openDialog(fake: FakeApi, role: Role = "admin") {
  renderApp(<TasksPage />, { fake, role, path: "/tasks" });
  await userEvent.click(await screen.findByRole("button", { name: "Attachment storage" }));
  const dialog = await screen.findByRole("dialog", { name: "Attachment storage" });
  await within(dialog).findByText("Largest attachment");
  return dialog;
}

describe("Attachment storage dialog", () => {
  it("loads the view, shows the endpoint's 422 next to it, then saves the S3 settings", async () => {
    let puts = 0;
    const fake = storageApi(LOCAL, (body) => {
      puts++;
      if (puts === 1) {
        throw new ApiError({
          status: 422,
          code: "validation_failed",
          detail: "The request has invalid fields.",
          errors: [{ field: "s3.endpoint", message: "is plain http; set allow_http to use it (credentials then cross the network unencrypted)" }],
        });
      }
      return { kind: "s3", max_bytes: LOCAL.max_bytes, s3: { ...body.s3!, endpoint: body.s3!.endpoint ?? "", prefix: body.s3!.prefix ?? "", allow_http: true, secret_set: true } };
    });
    const dialog = await openDialog(fake);
    const d = within(dialog);

    // The view: local disk chosen, the limit read-only and formatted, no S3 fields yet.
    expect(d.getByRole("radio", { name: /Local disk/ })).toBeChecked();
    expect(d.getByText("25 MiB")).toBeInTheDocument();
    expect(d.queryByLabelText(/Bucket/)).toBeNull();

    await userEvent.click(d.getByRole("radio", { name: /S3-compatible/ }));
    const secret = d.getByLabelText(/Secret access key/);
    expect(secret).toHaveAttribute("type", "password");
    expect(secret).toHaveValue("");
    expect(secret).not.toHaveAttribute("placeholder");
    expect(d.getByLabelText(/Region/)).toHaveValue("us-east-1");
    await userEvent.type(d.getByLabelText(/Bucket/), "gantry-files");
    await userEvent.type(d.getByLabelText(/Endpoint/), "http://minio.lan:9000");
    await userEvent.type(d.getByLabelText(/Key prefix/), "team");
    await userEvent.type(d.getByLabelText(/Access key ID/), "AKIAEXAMPLE");
    await userEvent.type(secret, "s3cret-key");
    await userEvent.click(d.getByRole("button", { name: "Save" }));

    // The endpoint's error under the endpoint field; the banner points at it.
    const endpoint = d.getByLabelText(/Endpoint/);
    await waitFor(() => expect(endpoint).toHaveAttribute("aria-invalid", "true"));
    expect(document.getElementById(endpoint.getAttribute("aria-describedby")!)).toHaveTextContent("is plain http; set allow_http to use it");
    expect(d.getByRole("alert")).toHaveTextContent("Please correct the highlighted fields.");
    expect(d.getByLabelText(/Bucket/)).not.toHaveAttribute("aria-invalid");
    expect(fake.callsTo("PUT", "/api/v1/tasks/storage")[0].body).toEqual({
      kind: "s3",
      s3: { bucket: "gantry-files", endpoint: "http://minio.lan:9000", region: "us-east-1", prefix: "team", access_key_id: "AKIAEXAMPLE", allow_http: false, secret_access_key: "s3cret-key" },
    });

    await userEvent.click(d.getByRole("checkbox", { name: /Allow a plain-HTTP endpoint/ }));
    await userEvent.click(d.getByRole("button", { name: "Save" }));
    expect(await screen.findByText("Attachment storage saved: new attachments go to S3 bucket “gantry-files”")).toBeInTheDocument();
    await waitFor(() => expect(screen.queryByRole("dialog", { name: "Attachment storage" })).toBeNull());
    expect((fake.callsTo("PUT", "/api/v1/tasks/storage")[1].body as StorageInput).s3?.allow_http).toBe(true);
    // Nothing the page showed holds the secret.
    expect(document.body.innerHTML).not.toContain("s3cret-key");
  });

  it("stored S3 settings: prefilled except the secret, kept when left empty; the probe's failure is the form's message", async () => {
    const fake = storageApi(S3, () => {
      throw new ApiError({
        status: 422,
        code: "validation_failed",
        detail: "The request has invalid fields.",
        errors: [{ field: "s3", message: "a test write, read and delete failed: the bucket does not exist" }],
      });
    });
    const dialog = await openDialog(fake);
    const d = within(dialog);
    expect(d.getByRole("radio", { name: /S3-compatible/ })).toBeChecked();
    expect(d.getByLabelText(/Bucket/)).toHaveValue("gantry-files");
    expect(d.getByLabelText(/Endpoint/)).toHaveValue("https://minio.internal:9000");
    expect(d.getByLabelText(/Region/)).toHaveValue("eu-west-1");
    expect(d.getByLabelText(/Access key ID/)).toHaveValue("AKIAEXAMPLE");
    const secret = d.getByLabelText(/Secret access key/);
    expect(secret).toHaveValue("");
    expect(secret).toHaveAttribute("placeholder", "stored — leave empty to keep");
    expect(secret).not.toBeRequired();

    await userEvent.click(d.getByRole("button", { name: "Save" }));
    expect(await d.findByRole("alert")).toHaveTextContent("The S3 settings were not saved: a test write, read and delete failed: the bucket does not exist");
    const body = fake.callsTo("PUT", "/api/v1/tasks/storage")[0].body as StorageInput;
    expect(body.s3).not.toHaveProperty("secret_access_key");
    expect(body.s3?.bucket).toBe("gantry-files");
    // Still open, nothing marked on a single field.
    expect(d.getByLabelText(/Bucket/)).not.toHaveAttribute("aria-invalid");

    // Back to local disk: no S3 settings sent (the stored ones are kept).
    await userEvent.click(d.getByRole("radio", { name: /Local disk/ }));
    await userEvent.click(d.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(fake.callsTo("PUT", "/api/v1/tasks/storage")).toHaveLength(2));
    expect(fake.callsTo("PUT", "/api/v1/tasks/storage")[1].body).toEqual({ kind: "local" });
  });

  it("is for admins only", async () => {
    const fake = storageApi(LOCAL, () => LOCAL);
    renderApp(<TasksPage />, { fake, role: "operator", path: "/tasks" });
    await screen.findByRole("heading", { name: "No open tasks" });
    expect(screen.getByRole("button", { name: "Keyboard shortcuts" })).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Attachment storage" })).toBeNull();
    expect(fake.callsTo("GET", "/api/v1/tasks/storage")).toHaveLength(0);
  });
});
