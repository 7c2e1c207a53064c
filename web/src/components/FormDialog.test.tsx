import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import { TextField, useFormErrors } from "./Form";
import { FormDialog } from "./FormDialog";

const FIELDS = ["name"] as const;

function Harness({ onSubmit }: { onSubmit: (name: string) => Promise<void> }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const form = useFormErrors(FIELDS);
  return (
    <>
      <button type="button" onClick={() => setOpen(true)}>
        New thing
      </button>
      <FormDialog
        open={open}
        title="New thing"
        onClose={() => setOpen(false)}
        form={form}
        onSubmit={async () => {
          await onSubmit(name);
          setOpen(false);
        }}
        submitLabel="Create thing"
        busyLabel="Creating…"
      >
        <TextField label="Name" name="name" value={name} onChange={(e) => setName(e.target.value)} error={form.fieldError("name")} />
      </FormDialog>
    </>
  );
}

const problem = (errors: { field: string; message: string }[]) => new ApiError({ status: 422, code: "validation_failed", detail: "invalid", errors });

describe("FormDialog", () => {
  it("submits with Enter and the footer button, busy meanwhile, and shows the API's errors", async () => {
    const user = userEvent.setup();
    let finish!: () => void;
    const onSubmit = vi
      .fn()
      .mockRejectedValueOnce(problem([{ field: "name", message: "is taken" }]))
      .mockRejectedValueOnce(problem([{ field: "owner", message: "is unknown" }]))
      .mockImplementationOnce(() => new Promise<void>((r) => (finish = r)));
    render(<Harness onSubmit={onSubmit} />);
    await user.click(screen.getByRole("button", { name: "New thing" }));
    const dialog = screen.getByRole("dialog", { name: "New thing" });
    expect(screen.getByRole("form", { name: "New thing" })).toBeInTheDocument();
    const name = screen.getByLabelText("Name");
    expect(name).toHaveFocus();

    await user.type(name, "web{Enter}");
    expect(onSubmit).toHaveBeenLastCalledWith("web");
    expect(await screen.findByText("is taken")).toBeInTheDocument();
    expect(name).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByRole("alert")).toHaveTextContent("Please correct the highlighted fields.");

    // A field the form does not show lands in the banner; the last errors go.
    await user.click(screen.getByRole("button", { name: "Create thing" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("owner: is unknown");
    expect(name).not.toHaveAttribute("aria-invalid");

    await user.click(screen.getByRole("button", { name: "Create thing" }));
    expect(screen.getByRole("button", { name: "Creating…" })).toBeDisabled();
    expect(screen.getByRole("button", { name: "Cancel" })).toBeDisabled();
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
    await user.keyboard("{Escape}");
    expect(dialog).toBeInTheDocument();
    finish();
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
  });

  it("opens again without the last errors", async () => {
    const user = userEvent.setup();
    render(<Harness onSubmit={vi.fn().mockRejectedValue(problem([{ field: "name", message: "is taken" }]))} />);
    await user.click(screen.getByRole("button", { name: "New thing" }));
    await user.click(screen.getByRole("button", { name: "Create thing" }));
    expect(await screen.findByText("is taken")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Cancel" }));
    await user.click(screen.getByRole("button", { name: "New thing" }));
    expect(screen.getByRole("dialog", { name: "New thing" })).toBeInTheDocument();
    expect(screen.queryByText("is taken")).not.toBeInTheDocument();
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
  });
});
