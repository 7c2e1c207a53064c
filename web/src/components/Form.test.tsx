import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { ApiError } from "../api/client";
import { FormError, TextField, useFormErrors } from "./Form";

const FIELDS = ["username", "password"] as const;

function Harness({ error }: { error: unknown }) {
  const form = useFormErrors(FIELDS);
  return (
    <form>
      <TextField label="Username" name="username" hint="1–64 characters" error={form.fieldError("username")} />
      <TextField label="Password" name="password" type="password" error={form.fieldError("password")} />
      <FormError message={form.formMessage} />
      <button type="button" onClick={() => form.setError(error)}>
        submit
      </button>
    </form>
  );
}

const problem = (errors: { field: string; message: string }[], detail = "invalid") =>
  new ApiError({ status: 422, code: "validation_failed", detail, errors });

describe("form field errors", () => {
  it("shows each API field error next to its field", async () => {
    render(<Harness error={problem([{ field: "password", message: "must be at least 10 characters" }])} />);
    const username = screen.getByLabelText("Username");
    expect(username).toHaveAccessibleDescription("1–64 characters");
    await userEvent.click(screen.getByRole("button", { name: "submit" }));
    const password = screen.getByLabelText("Password");
    expect(password).toHaveAttribute("aria-invalid", "true");
    expect(password).toHaveAccessibleDescription("must be at least 10 characters");
    expect(username).not.toHaveAttribute("aria-invalid");
    expect(screen.getByRole("alert")).toHaveTextContent("Please correct the highlighted fields.");
  });

  it("puts errors for fields the form does not show into the banner", async () => {
    render(<Harness error={problem([{ field: "expires_at", message: "must be within two years" }])} />);
    await userEvent.click(screen.getByRole("button", { name: "submit" }));
    expect(screen.getByRole("alert")).toHaveTextContent("expires_at: must be within two years");
  });

  it("shows the detail of errors without fields (e.g. 409 invalid_state)", async () => {
    render(<Harness error={new ApiError({ status: 409, code: "invalid_state", detail: "the last admin cannot be disabled" })} />);
    await userEvent.click(screen.getByRole("button", { name: "submit" }));
    expect(screen.getByRole("alert")).toHaveTextContent("the last admin cannot be disabled");
    expect(screen.getByLabelText("Password")).not.toHaveAttribute("aria-invalid");
  });
});
