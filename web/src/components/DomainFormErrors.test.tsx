// The API's indexed field errors land next to the right row and input.
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it } from "vitest";
import { ApiError } from "../api/client";
import { DOMAIN_FORM_FIELDS, headerRow, listRow, routeRow } from "../lib/domainForm";
import { FormError, indexedField, TextField, useFormErrors } from "./Form";
import { KeyValueEditor } from "./KeyValueEditor";
import { ListEditor } from "./ListEditor";
import { RouteEditor } from "./RouteEditor";

const problem = new ApiError({
  status: 422,
  code: "validation_failed",
  detail: "invalid",
  errors: [
    { field: "target_ip", message: "must be a unicast IP address" },
    { field: "aliases[1]", message: "not a valid domain name" },
    { field: "options.response_headers[0].value", message: "must not contain newlines" },
    { field: "options.allow[0]", message: "not a CIDR" },
    { field: "routes[0].path", message: "must start with /" },
  ],
});

function Harness() {
  const form = useFormErrors(DOMAIN_FORM_FIELDS);
  const [aliases, setAliases] = useState([listRow("a.example"), listRow("b..example")]);
  const [headers, setHeaders] = useState([headerRow("X-A", "x")]);
  const [allow, setAllow] = useState([listRow("10.0.0.0/33")]);
  const [routes, setRoutes] = useState([routeRow({ path: "api", target_ip: "10.0.0.1", target_port: "80" })]);
  return (
    <form>
      <TextField label="Target IP" name="target_ip" error={form.fieldError("target_ip")} />
      <ListEditor legend="Aliases" rows={aliases} onChange={setAliases} rowError={(i) => form.itemError("aliases", i)} />
      <KeyValueEditor legend="Response headers" rows={headers} onChange={setHeaders} rowError={(r) => form.itemError("options.response_headers", headers.indexOf(r))} />
      <ListEditor legend="Allow" rows={allow} onChange={setAllow} rowError={(i) => form.itemError("options.allow", i)} />
      <RouteEditor rows={routes} onChange={setRoutes} fieldError={(i, sub) => form.fieldError(indexedField("routes", i, sub))} />
      <FormError message={form.formMessage} />
      <button type="button" onClick={() => form.setError(problem)}>
        submit
      </button>
    </form>
  );
}

describe("domain form field errors", () => {
  it("shows indexed errors on the matching rows only", async () => {
    render(<Harness />);
    await userEvent.click(screen.getByRole("button", { name: "submit" }));
    expect(screen.getByLabelText("Target IP")).toHaveAccessibleDescription("must be a unicast IP address");
    expect(screen.getByLabelText("Aliases 1")).not.toHaveAttribute("aria-invalid");
    expect(screen.getByLabelText("Aliases 2")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByLabelText("Aliases 2")).toHaveAccessibleDescription("not a valid domain name");
    expect(screen.getByLabelText("Response headers row 1 value")).toHaveAccessibleDescription("must not contain newlines");
    expect(screen.getByLabelText("Allow 1")).toHaveAccessibleDescription("not a CIDR");
    expect(screen.getByLabelText("Route 1 path")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByLabelText("Route 1 path")).toHaveAccessibleDescription("Path: must start with /");
    expect(screen.getByLabelText("Route 1 target ip")).not.toHaveAttribute("aria-invalid");
    expect(screen.getByRole("alert")).toHaveTextContent("Please correct the highlighted fields.");
  });

  it("removing a row renumbers the labels", async () => {
    render(<Harness />);
    await userEvent.click(screen.getByRole("button", { name: "Remove aliases 1 (a.example)" }));
    expect(screen.getByLabelText("Aliases 1")).toHaveValue("b..example");
  });
});
