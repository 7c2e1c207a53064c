// Markdown of user-written text (a task's description), rendered safely:
// `marked` turns it into HTML with raw HTML in the source escaped as text,
// then DOMPurify strips anything that is not plain document markup (scripts,
// event handlers, `javascript:` URLs, forms, iframes, styles, images that
// would load from elsewhere). Links open in
// a new tab without access to the panel (`rel="noopener noreferrer"`).
import createDOMPurify from "dompurify";
import { Marked } from "marked";
import { useMemo } from "react";

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

const marked = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  // Raw HTML in the text is shown as text, never interpreted.
  renderer: { html: ({ text }) => escapeHtml(text) },
});

const ALLOWED_TAGS = [
  "p", "br", "hr", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a",
  "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "input",
];
const ALLOWED_ATTR = ["href", "title", "type", "checked", "disabled", "align", "start"];

let purifier: ReturnType<typeof createDOMPurify> | null = null;

function getPurifier() {
  if (purifier) return purifier;
  const p = createDOMPurify(window);
  p.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A" && node.getAttribute("href")) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    }
    // Task list checkboxes are read-only.
    if (node.tagName === "INPUT") {
      if (node.getAttribute("type") !== "checkbox") node.remove();
      else node.setAttribute("disabled", "");
    }
  });
  purifier = p;
  return p;
}

/** Markdown → sanitized HTML. */
export function renderMarkdown(source: string): string {
  const html = marked.parse(source) as string;
  return getPurifier().sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR: [...ALLOWED_ATTR, "target", "rel"],
    // Only web, mail and in-panel links. DOMPurify checks every attribute
    // against this unless it is marked URI-safe: these never hold a URL.
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|\/|#)/i,
    ADD_URI_SAFE_ATTR: ["type", "target", "rel", "align", "start"],
  });
}

export function Markdown({ source, className, label }: { source: string; className?: string; label?: string }) {
  const html = useMemo(() => renderMarkdown(source), [source]);
  return <div className={`markdown${className ? ` ${className}` : ""}`} aria-label={label} dangerouslySetInnerHTML={{ __html: html }} />;
}
