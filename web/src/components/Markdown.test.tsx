import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { Markdown, renderMarkdown } from "./Markdown";

describe("Markdown", () => {
  it("renders the usual Markdown", () => {
    render(<Markdown source={"# Steps\n\n1. **stop** nginx\n2. run `certbot`\n\n- [x] done\n\n[docs](https://example.com/x)"} label="Description" />);
    const md = screen.getByLabelText("Description");
    expect(md.querySelector("h1")).toHaveTextContent("Steps");
    expect(md.querySelector("ol strong")).toHaveTextContent("stop");
    expect(md.querySelector("code")).toHaveTextContent("certbot");
    const link = screen.getByRole("link", { name: "docs" });
    expect(link).toHaveAttribute("href", "https://example.com/x");
    expect(link).toHaveAttribute("rel", "noopener noreferrer");
    expect(link).toHaveAttribute("target", "_blank");
    expect(md.querySelector('input[type="checkbox"]')).toBeDisabled();
  });

  it("shows raw HTML as text and never runs anything", () => {
    const html = renderMarkdown('<script>alert(1)</script>\n\n<img src=x onerror="alert(2)">\n\nhi <b onclick="x()">bold</b>');
    const doc = document.createElement("div");
    doc.innerHTML = html;
    expect(doc.querySelectorAll("script, img, b")).toHaveLength(0);
    expect([...doc.querySelectorAll("*")].flatMap((el) => [...el.attributes].map((a) => a.name)).filter((n) => n.startsWith("on"))).toEqual([]);
    expect(doc.textContent).toContain("<script>alert(1)</script>");
    render(<Markdown source={'<iframe src="https://evil.example"></iframe>'} label="d" />);
    expect(screen.getByLabelText("d").querySelector("iframe")).toBeNull();
    expect(screen.getByLabelText("d")).toHaveTextContent('<iframe src="https://evil.example"></iframe>');
  });

  it("drops dangerous link targets and images", () => {
    const html = renderMarkdown("[click](javascript:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=) ![px](https://tracker.example/p.gif) [ok](/servers/1)");
    expect(html).not.toMatch(/javascript:|data:|<img/i);
    expect(html).toContain('href="/servers/1"');
  });
});
