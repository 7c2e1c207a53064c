import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/client";
import { ConfirmDialog } from "./ConfirmDialog";
import { ConflictDialog } from "./ConflictDialog";

function Harness({ onConfirm }: { onConfirm: () => Promise<void> }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" onClick={() => setOpen(true)}>
        Revoke ci
      </button>
      <ConfirmDialog open={open} title="Revoke token “ci”?" confirmLabel="Revoke token" onConfirm={onConfirm} onClose={() => setOpen(false)}>
        <p>
          The token <strong>ci</strong> stops working immediately.
        </p>
      </ConfirmDialog>
    </>
  );
}

describe("ConfirmDialog", () => {
  it("names the target, focuses Cancel, traps Tab, closes on Escape and returns focus", async () => {
    const user = userEvent.setup();
    render(<Harness onConfirm={vi.fn()} />);
    const opener = screen.getByRole("button", { name: "Revoke ci" });
    await user.click(opener);
    const dialog = screen.getByRole("alertdialog", { name: "Revoke token “ci”?" });
    expect(dialog).toHaveAttribute("aria-modal", "true");
    expect(dialog).toHaveTextContent("The token ci stops working immediately.");
    const cancel = screen.getByRole("button", { name: "Cancel" });
    expect(cancel).toHaveFocus();
    // Tab cycles inside the dialog: Cancel → Revoke → Close (first) → Cancel …
    await user.tab();
    expect(screen.getByRole("button", { name: "Revoke token" })).toHaveFocus();
    await user.tab();
    expect(screen.getByRole("button", { name: "Close dialog" })).toHaveFocus();
    await user.tab({ shift: true });
    expect(screen.getByRole("button", { name: "Revoke token" })).toHaveFocus();
    await user.keyboard("{Escape}");
    expect(screen.queryByRole("alertdialog")).not.toBeInTheDocument();
    expect(opener).toHaveFocus();
  });

  it("runs the action, and keeps the dialog open with the error when it fails", async () => {
    const user = userEvent.setup();
    const onConfirm = vi.fn().mockRejectedValueOnce(new ApiError({ status: 409, code: "invalid_state", detail: "already revoked" })).mockResolvedValueOnce(undefined);
    render(<Harness onConfirm={onConfirm} />);
    await user.click(screen.getByRole("button", { name: "Revoke ci" }));
    await user.click(screen.getByRole("button", { name: "Revoke token" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("already revoked");
    await user.click(screen.getByRole("button", { name: "Revoke token" }));
    await waitFor(() => expect(screen.queryByRole("alertdialog")).not.toBeInTheDocument());
    expect(onConfirm).toHaveBeenCalledTimes(2);
  });

  it("offers an option that starts unticked each time and is passed to the action", async () => {
    const user = userEvent.setup();
    const onConfirm = vi.fn();
    function WithOption() {
      const [open, setOpen] = useState(false);
      return (
        <>
          <button type="button" onClick={() => setOpen(true)}>
            Uninstall
          </button>
          <ConfirmDialog
            open={open}
            title="Uninstall?"
            confirmLabel="Uninstall"
            option={{ name: "remove_package", label: "Also remove the package", hint: "Otherwise it stays.", confirmLabel: "Uninstall and remove" }}
            onConfirm={onConfirm}
            onClose={() => setOpen(false)}
          >
            <p>Gone.</p>
          </ConfirmDialog>
        </>
      );
    }
    render(<WithOption />);
    await user.click(screen.getByRole("button", { name: "Uninstall" }));
    const option = screen.getByRole("checkbox", { name: "Also remove the package" });
    expect(option).not.toBeChecked();
    expect(option).toHaveAccessibleDescription("Otherwise it stays.");
    await user.click(option);
    await user.click(screen.getByRole("button", { name: "Uninstall and remove" }));
    await waitFor(() => expect(screen.queryByRole("alertdialog")).not.toBeInTheDocument());
    expect(onConfirm).toHaveBeenLastCalledWith(true);

    await user.click(screen.getByRole("button", { name: "Uninstall" }));
    expect(screen.getByRole("checkbox", { name: "Also remove the package" })).not.toBeChecked();
    await user.click(within(screen.getByRole("alertdialog")).getByRole("button", { name: "Uninstall" }));
    await waitFor(() => expect(screen.queryByRole("alertdialog")).not.toBeInTheDocument());
    expect(onConfirm).toHaveBeenLastCalledWith(false);
  });
});

describe("ConflictDialog", () => {
  it("explains the 412 and offers a reload", async () => {
    const onReload = vi.fn();
    render(<ConflictDialog open what="user “bob”" onReload={onReload} onClose={vi.fn()} />);
    const dialog = screen.getByRole("alertdialog", { name: "Changed by someone else" });
    expect(dialog).toHaveTextContent("user “bob” was changed by someone else");
    const reload = screen.getByRole("button", { name: "Reload latest version" });
    expect(reload).toHaveFocus();
    await userEvent.click(reload);
    expect(onReload).toHaveBeenCalled();
  });
});
