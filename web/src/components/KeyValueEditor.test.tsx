import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it } from "vitest";
import { ApiError } from "../api/client";
import { newRow, rowField, type KvRow } from "../lib/serverForm";
import { SERVER_FORM_FIELDS } from "../pages/ServerFormPage";
import { FormError, TextAreaField, TextField, useFormErrors } from "./Form";
import { KeyValueEditor } from "./KeyValueEditor";

function Harness({ error }: { error: unknown }) {
  const form = useFormErrors(SERVER_FORM_FIELDS);
  const [rows, setRows] = useState<KvRow[]>([newRow("env", "prod"), newRow("team", "ops")]);
  return (
    <form>
      <TextField label="Name" name="name" error={form.fieldError("name")} />
      <TextAreaField label="Private key" name="private_key" error={form.fieldError("credentials.private_key")} />
      <KeyValueEditor legend="Labels" rows={rows} onChange={setRows} rowError={(r) => form.fieldError(rowField("labels", r))} />
      <FormError message={form.formMessage} />
      <button type="button" onClick={() => form.setError(error)}>
        submit
      </button>
    </form>
  );
}

const problem = (errors: { field: string; message: string }[]) => new ApiError({ status: 422, code: "validation_failed", detail: "invalid", errors });

describe("server form field errors", () => {
  it("shows nested errors (credentials.private_key, labels.env) on their inputs", async () => {
    render(
      <Harness
        error={problem([
          { field: "credentials.private_key", message: "not a private key in OpenSSH or PEM format" },
          { field: "labels.env", message: "keys are 1–63 of a-z" },
        ])}
      />,
    );
    await userEvent.click(screen.getByRole("button", { name: "submit" }));
    const key = screen.getByLabelText("Private key");
    expect(key).toHaveAttribute("aria-invalid", "true");
    expect(key).toHaveAccessibleDescription("not a private key in OpenSSH or PEM format");
    expect(screen.getByLabelText("Labels row 1 key")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByLabelText("Labels row 1 value")).toHaveAccessibleDescription("keys are 1–63 of a-z");
    expect(screen.getByLabelText("Labels row 2 key")).not.toHaveAttribute("aria-invalid");
    expect(screen.getByLabelText("Name")).not.toHaveAttribute("aria-invalid");
    expect(screen.getByRole("alert")).toHaveTextContent("Please correct the highlighted fields.");
  });

  it("puts errors of fields the form does not have into the banner", async () => {
    render(<Harness error={problem([{ field: "something_else", message: "nope" }])} />);
    await userEvent.click(screen.getByRole("button", { name: "submit" }));
    expect(screen.getByRole("alert")).toHaveTextContent("something_else: nope");
  });

  it("adds and removes rows", async () => {
    render(<Harness error={null} />);
    await userEvent.click(screen.getByRole("button", { name: "Add row" }));
    expect(screen.getByLabelText("Labels row 3 key")).toHaveValue("");
    await userEvent.click(screen.getByRole("button", { name: "Remove labels row 1 (env)" }));
    expect(screen.getByLabelText("Labels row 1 key")).toHaveValue("team");
  });
});
