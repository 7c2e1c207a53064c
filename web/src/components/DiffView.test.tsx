import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { CodeView, DiffView } from "./DiffView";

const DIFF = `--- a/group-1.conf
+++ b/group-1.conf
@@ -1,3 +1,3 @@
 server {
-    proxy_pass http://10.0.0.5:8080;
+    proxy_pass http://$upstream:8081;
 }
--- /dev/null
+++ b/group-2.conf
@@ -0,0 +1 @@
+# new group
`;

describe("DiffView", () => {
  it("renders each file with its name, kind and counts, and highlights the lines", () => {
    render(<DiffView diff={DIFF} label="Pending changes" />);
    const view = screen.getByRole("region", { name: "Pending changes" });
    const f1 = within(view).getByRole("region", { name: "group-1.conf: changed, 1 added, 1 removed" });
    expect(within(f1).getByText("+1")).toHaveClass("diff-stat-add");
    const del = f1.querySelector(".cl-del")!;
    expect(del.querySelector(".cl-sign")).toHaveTextContent("-");
    expect(del.querySelector(".tok-directive")).toHaveTextContent("proxy_pass");
    const add = f1.querySelector(".cl-add")!;
    expect(add.querySelector(".tok-variable")).toHaveTextContent("$upstream");
    expect(add.querySelector(".tok-punct")).toHaveTextContent(";");
    // Line numbers: old and new.
    expect([...add.querySelectorAll(".cl-no")].map((n) => n.textContent)).toEqual(["", "2"]);
    expect(f1.querySelector(".cl-hunk")).toHaveTextContent("@@ -1,3 +1,3 @@");
    // The text reads back exactly (no characters lost to highlighting).
    expect(add.querySelector(".cl-text")!.textContent).toBe("    proxy_pass http://$upstream:8081;");

    const f2 = within(view).getByRole("region", { name: /^group-2\.conf: new file/ });
    expect(f2.querySelector(".cl-add .tok-comment")).toHaveTextContent("# new group");
  });

  it("says so when there is nothing to show", () => {
    render(<DiffView diff="" label="Pending changes" empty="Nothing pending." />);
    expect(screen.getByText("Nothing pending.")).toBeInTheDocument();
    expect(screen.queryByRole("region")).not.toBeInTheDocument();
  });

  it("shows the first lines of a long diff and the rest on request", async () => {
    const long = `--- a/x.conf\n+++ b/x.conf\n@@ -0,0 +1,50 @@\n${Array.from({ length: 50 }, (_, i) => `+listen ${8000 + i};`).join("\n")}\n`;
    render(<DiffView diff={long} label="Long" maxLines={10} />);
    const view = screen.getByRole("region", { name: "Long" });
    expect(view.querySelectorAll(".cl")).toHaveLength(10);
    expect(screen.getByText("Showing the first 10 of 51 lines.")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Show all 51 lines" }));
    expect(view.querySelectorAll(".cl")).toHaveLength(51);
    expect(screen.queryByRole("button", { name: /Show all/ })).not.toBeInTheDocument();
  });
});

describe("CodeView", () => {
  it("numbers and highlights every line of a file", () => {
    render(<CodeView text={'server {\n    return 200 "ok $host\\n";\n}\n'} label="File group-1.conf" />);
    const pre = screen.getByLabelText("File group-1.conf");
    const lines = pre.querySelectorAll(".cl");
    expect(lines).toHaveLength(3);
    expect([...lines].map((l) => l.querySelector(".cl-no")!.textContent)).toEqual(["1", "2", "3"]);
    expect(lines[1].querySelector(".tok-string")).toHaveTextContent('"ok');
    expect(lines[1].querySelector(".tok-variable")).toHaveTextContent("$host");
    expect(lines[1].querySelector(".tok-number")).toHaveTextContent("200");
  });
});
