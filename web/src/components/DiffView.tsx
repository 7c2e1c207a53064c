// Highlighted unified diffs and files of nginx configuration. The tokens
// come from `lib/nginxHighlight.ts`; colours are `tok-*` / `cl-*` classes in
// app.css (CSP: no inline styles). Long lines scroll inside the block, never
// the page; very long diffs show their first lines and a "Show all" button.
import { useMemo, useState, type ReactNode } from "react";
import { diffLineTokens, parseUnifiedDiff, tokenizeNginxText, type DiffFile, type DiffLine, type Token } from "../lib/nginxHighlight";

/** Renders tokens as spans (whitespace and plain text as text). */
export function Tokens({ tokens }: { tokens: Token[] }) {
  return (
    <>
      {tokens.map((t, i) =>
        t.type === "space" || t.type === "text" ? (
          t.text
        ) : (
          <span key={i} className={`tok tok-${t.type}`}>
            {t.text}
          </span>
        ),
      )}
    </>
  );
}

const SIGN: Record<DiffLine["kind"], string> = { add: "+", del: "-", context: " ", hunk: "", note: "", meta: "" };

function DiffLineRow({ line }: { line: DiffLine }) {
  const content = line.kind === "add" || line.kind === "del" || line.kind === "context";
  return (
    <span className={`cl cl-${line.kind}`} data-kind={line.kind}>
      <span className="cl-no" aria-hidden="true">
        {line.oldNo ?? ""}
      </span>
      <span className="cl-no" aria-hidden="true">
        {line.newNo ?? ""}
      </span>
      {content ? <span className="cl-sign">{SIGN[line.kind]}</span> : null}
      <span className="cl-text">{content ? <Tokens tokens={diffLineTokens(line)} /> : line.text}</span>
    </span>
  );
}

const CHANGE_LABEL: Record<DiffFile["change"], string> = { added: "new file", removed: "removed", modified: "changed" };

export interface DiffViewProps {
  /** The unified diff text (as the API returns it). */
  diff: string;
  /** Accessible name of the region, e.g. "Pending changes". */
  label: string;
  /** Shown when the diff is empty. */
  empty?: ReactNode;
  /** Lines rendered before "Show all" (default 1500). */
  maxLines?: number;
}

/** A unified diff, file by file, with nginx syntax highlighting. */
export function DiffView({ diff, label, empty = "No differences.", maxLines = 1500 }: DiffViewProps) {
  const parsed = useMemo(() => parseUnifiedDiff(diff), [diff]);
  const [showAll, setShowAll] = useState(false);
  const total = parsed.files.reduce((n, f) => n + f.lines.length, 0);

  if (parsed.files.length === 0 && parsed.trailer.length === 0) {
    return <p className="muted diff-empty">{empty}</p>;
  }

  let budget = showAll ? Infinity : maxLines;
  return (
    <div className="diff-view" role="region" aria-label={label}>
      {parsed.files.map((f, i) => {
        if (budget <= 0) return null;
        const lines = f.lines.slice(0, budget);
        budget -= lines.length;
        return (
          <section key={`${f.name}-${i}`} className="diff-file" aria-label={`${f.name}: ${CHANGE_LABEL[f.change]}, ${f.additions} added, ${f.deletions} removed`}>
            <header className="diff-file-head">
              <span className="mono diff-file-name">{f.name}</span>
              <span className={`badge badge-${f.change === "added" ? "success" : f.change === "removed" ? "danger" : "neutral"}`}>{CHANGE_LABEL[f.change]}</span>
              <span className="diff-stat">
                <span className="diff-stat-add">+{f.additions}</span> <span className="diff-stat-del">−{f.deletions}</span>
              </span>
            </header>
            <pre className="code code-diff" tabIndex={0} aria-label={`Diff of ${f.name}`}>
              <span className="code-lines">
                {lines.map((l, j) => (
                  <DiffLineRow key={j} line={l} />
                ))}
              </span>
            </pre>
          </section>
        );
      })}
      {parsed.trailer.map((t, i) => (
        <p key={i} className="muted small diff-trailer">
          {t}
        </p>
      ))}
      {!showAll && total > maxLines ? (
        <div className="diff-more">
          <span className="muted small">
            Showing the first {maxLines} of {total} lines.
          </span>
          <button type="button" className="btn btn-secondary btn-sm" onClick={() => setShowAll(true)}>
            Show all {total} lines
          </button>
        </div>
      ) : null}
    </div>
  );
}

/** A whole nginx configuration file with line numbers and highlighting. */
export function CodeView({ text, label }: { text: string; label: string }) {
  const lines = useMemo(() => tokenizeNginxText(text), [text]);
  return (
    <pre className="code" tabIndex={0} aria-label={label}>
      <span className="code-lines">
        {lines.map((tokens, i) => (
          <span key={i} className="cl cl-context">
            <span className="cl-no" aria-hidden="true">
              {i + 1}
            </span>
            <span className="cl-text">
              <Tokens tokens={tokens} />
            </span>
          </span>
        ))}
      </span>
    </pre>
  );
}
