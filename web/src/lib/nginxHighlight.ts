// Syntax highlighting for nginx configuration and unified diffs of it, with
// no dependency: a small line tokenizer and a diff parser. The components
// (`components/DiffView.tsx`) turn tokens into spans with `tok-*` classes
// from app.css (the CSP allows no inline styles).
//
// nginx's grammar, as far as highlighting needs it: a statement is a
// directive name followed by arguments, ended by `;` or by a `{ … }` block;
// `#` starts a comment where a token may start; arguments may be quoted with
// `"` or `'` (backslash escapes); `$name` / `${name}` are variables, also
// inside strings. Each line is tokenized on its own (diff lines come one by
// one); a quoted string left open at the end of a line is closed there.

export type TokenType = "comment" | "directive" | "brace" | "punct" | "string" | "variable" | "number" | "text" | "space";

export interface Token {
  type: TokenType;
  text: string;
}

/** A number argument: `80`, `1.1`, `30s`, `10m`, `512k`, `250ms`. */
const NUMBER = /^-?\d+(?:\.\d+)?(?:ms|[smhdwyMkKgG])?$/;
/** A variable at the start of the text: `$host`, `$1`, `${name}`. */
const VARIABLE = /^\$(?:\{[A-Za-z0-9_]+\}|[A-Za-z0-9_]+)/;

function isSpace(c: string): boolean {
  return c === " " || c === "\t" || c === "\r" || c === "\n";
}

/** Splits `text` into text and `$variable` tokens (`kind` for the non-variable parts). */
function withVariables(text: string, kind: TokenType, out: Token[]): void {
  let plain = "";
  let i = 0;
  while (i < text.length) {
    if (text[i] === "$") {
      const m = VARIABLE.exec(text.slice(i));
      if (m) {
        if (plain) out.push({ type: kind, text: plain });
        plain = "";
        out.push({ type: "variable", text: m[0] });
        i += m[0].length;
        continue;
      }
    }
    plain += text[i];
    i++;
  }
  if (plain) out.push({ type: kind, text: plain });
}

/**
 * Tokenizes one line of nginx configuration. The tokens' texts joined give
 * back the line exactly. `atStatementStart` says whether the line starts a
 * new statement (default true); `tokenizeNginxText` carries it across lines
 * so a directive's arguments continued on the next line are not taken for
 * a directive.
 */
export function tokenizeNginx(line: string, atStatementStart = true): Token[] {
  return tokenizeLine(line, atStatementStart).tokens;
}

function tokenizeLine(line: string, start: boolean): { tokens: Token[]; start: boolean } {
  const out: Token[] = [];
  let i = 0;
  let statementStart = start;
  while (i < line.length) {
    const c = line[i];
    if (isSpace(c)) {
      let j = i;
      while (j < line.length && isSpace(line[j])) j++;
      out.push({ type: "space", text: line.slice(i, j) });
      i = j;
      continue;
    }
    if (c === "#") {
      out.push({ type: "comment", text: line.slice(i) });
      break;
    }
    if (c === "{" || c === "}") {
      out.push({ type: "brace", text: c });
      statementStart = true;
      i++;
      continue;
    }
    if (c === ";") {
      out.push({ type: "punct", text: c });
      statementStart = true;
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < line.length && line[j] !== c) j += line[j] === "\\" ? 2 : 1;
      const end = Math.min(j + 1, line.length);
      // Single-quoted strings are literal in nginx too, but `$` still interpolates in both.
      withVariables(line.slice(i, end), "string", out);
      statementStart = false;
      i = end;
      continue;
    }
    // A bare word: up to whitespace, `;`, a brace or a quote.
    let j = i;
    while (j < line.length && !isSpace(line[j]) && !";{}\"'".includes(line[j])) {
      // `${name}` belongs to the word, braces included.
      if (line[j] === "$" && line[j + 1] === "{") {
        const close = line.indexOf("}", j);
        if (close > 0) {
          j = close + 1;
          continue;
        }
      }
      j++;
    }
    const word = line.slice(i, j);
    if (statementStart) out.push({ type: "directive", text: word });
    else if (NUMBER.test(word)) out.push({ type: "number", text: word });
    else withVariables(word, "text", out);
    statementStart = false;
    i = j;
  }
  return { tokens: out, start: statementStart };
}

/** Tokenizes a whole file, line by line (statements may span lines). */
export function tokenizeNginxText(text: string): Token[][] {
  const lines = splitLines(text);
  let start = true;
  return lines.map((l) => {
    const r = tokenizeLine(l, start);
    start = r.start;
    return r.tokens;
  });
}

/** Lines of a text, without a phantom empty line after the final newline. */
export function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

// ---------------------------------------------------------------------------
// Unified diffs

export type DiffLineKind = "add" | "del" | "context" | "hunk" | "note" | "meta";

export interface DiffLine {
  kind: DiffLineKind;
  /** The line without its `+`/`-`/` ` prefix (hunk, note and meta lines: the whole line). */
  text: string;
  /** Line number in the old file (context and deleted lines). */
  oldNo?: number;
  /** Line number in the new file (context and added lines). */
  newNo?: number;
}

export interface DiffFile {
  /** The `---` path as written (`a/group-1.conf`, `/dev/null`, `expected/…`). */
  oldPath: string;
  /** The `+++` path as written. */
  newPath: string;
  /** File name for display: the new path without its `b/` (or `found/`) prefix, else the old one. */
  name: string;
  /** `added` (from /dev/null), `removed` (to /dev/null) or `modified`. */
  change: "added" | "removed" | "modified";
  lines: DiffLine[];
  additions: number;
  deletions: number;
}

export interface ParsedDiff {
  files: DiffFile[];
  /** Lines outside any file (e.g. "… (diff truncated …)"). */
  trailer: string[];
}

const HUNK = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/;

function displayName(oldPath: string, newPath: string): string {
  const strip = (p: string) => p.replace(/^(a|b|expected|found)\//, "");
  return newPath !== "/dev/null" ? strip(newPath) : strip(oldPath);
}

/**
 * Parses a unified diff (several files, `---`/`+++` headers, `@@` hunks).
 * Inside a hunk the line counts of its header decide what is content, so a
 * removed line that itself starts with `-- ` is not taken for a header.
 */
export function parseUnifiedDiff(text: string): ParsedDiff {
  const files: DiffFile[] = [];
  const trailer: string[] = [];
  const lines = splitLines(text);
  let file: DiffFile | null = null;
  let oldLeft = 0;
  let newLeft = 0;
  let oldNo = 0;
  let newNo = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const inHunk = oldLeft > 0 || newLeft > 0;
    if (inHunk && file) {
      const c = line[0] ?? " ";
      if (c === "+" && newLeft > 0) {
        file.lines.push({ kind: "add", text: line.slice(1), newNo: newNo++ });
        file.additions++;
        newLeft--;
        continue;
      }
      if (c === "-" && oldLeft > 0) {
        file.lines.push({ kind: "del", text: line.slice(1), oldNo: oldNo++ });
        file.deletions++;
        oldLeft--;
        continue;
      }
      if (c === " " || line === "") {
        file.lines.push({ kind: "context", text: line.slice(1), oldNo: oldNo++, newNo: newNo++ });
        oldLeft = Math.max(0, oldLeft - 1);
        newLeft = Math.max(0, newLeft - 1);
        continue;
      }
      if (c === "\\") {
        file.lines.push({ kind: "note", text: line });
        continue;
      }
      // Anything else ends the hunk early (a truncated diff).
      oldLeft = newLeft = 0;
    }
    if (line.startsWith("\\") && file) {
      file.lines.push({ kind: "note", text: line });
      continue;
    }
    if (line.startsWith("--- ") && lines[i + 1]?.startsWith("+++ ")) {
      const oldPath = line.slice(4).split("\t")[0];
      const newPath = lines[i + 1].slice(4).split("\t")[0];
      file = {
        oldPath,
        newPath,
        name: displayName(oldPath, newPath),
        change: oldPath === "/dev/null" ? "added" : newPath === "/dev/null" ? "removed" : "modified",
        lines: [],
        additions: 0,
        deletions: 0,
      };
      files.push(file);
      i++;
      continue;
    }
    const h = HUNK.exec(line);
    if (h && file) {
      oldNo = Number(h[1]);
      newNo = Number(h[3]);
      oldLeft = h[2] != null ? Number(h[2]) : 1;
      newLeft = h[4] != null ? Number(h[4]) : 1;
      // `-0,0` / `+0,0`: an empty side starts at line 1 when it gets lines.
      if (oldNo === 0) oldNo = 1;
      if (newNo === 0) newNo = 1;
      file.lines.push({ kind: "hunk", text: line });
      continue;
    }
    if (file && line.trim() !== "" && !line.startsWith("…")) {
      file.lines.push({ kind: "meta", text: line });
    } else if (line.trim() !== "") {
      trailer.push(line);
    }
  }
  return { files, trailer };
}

/** The token list of one diff line: nginx tokens for content lines, one token for the others. */
export function diffLineTokens(line: DiffLine): Token[] {
  if (line.kind === "add" || line.kind === "del" || line.kind === "context") return tokenizeNginx(line.text, startsStatement(line.text));
  return [{ type: "text", text: line.text }];
}

/**
 * Whether a lone line (from a diff, without its neighbours) starts a
 * statement. Continuation lines are rare in rendered configuration; a line
 * is taken for a statement unless it starts with a quote or a variable
 * (the typical continuation of a long argument list).
 */
function startsStatement(text: string): boolean {
  const t = text.trimStart();
  return !(t.startsWith('"') || t.startsWith("'") || t.startsWith("$"));
}
