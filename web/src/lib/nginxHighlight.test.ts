import { describe, expect, it } from "vitest";
import { diffLineTokens, parseUnifiedDiff, splitLines, tokenizeNginx, tokenizeNginxText, type Token } from "./nginxHighlight";

/** Tokens without whitespace, as `type:text` strings. */
const compact = (tokens: Token[]) => tokens.filter((t) => t.type !== "space").map((t) => `${t.type}:${t.text}`);
const joined = (tokens: Token[]) => tokens.map((t) => t.text).join("");

describe("tokenizeNginx", () => {
  it("splits a directive, its arguments and the semicolon", () => {
    expect(compact(tokenizeNginx("    listen 80;"))).toEqual(["directive:listen", "number:80", "punct:;"]);
    expect(compact(tokenizeNginx("    proxy_read_timeout 30s;"))).toEqual(["directive:proxy_read_timeout", "number:30s", "punct:;"]);
    expect(compact(tokenizeNginx("proxy_http_version 1.1;"))).toEqual(["directive:proxy_http_version", "number:1.1", "punct:;"]);
    expect(compact(tokenizeNginx("    server_name shop.example.com www.shop.example.com;"))).toEqual([
      "directive:server_name",
      "text:shop.example.com",
      "text:www.shop.example.com",
      "punct:;",
    ]);
  });

  it("marks braces, and a block's first word as a directive", () => {
    expect(compact(tokenizeNginx("server {"))).toEqual(["directive:server", "brace:{"]);
    expect(compact(tokenizeNginx("    location / {"))).toEqual(["directive:location", "text:/", "brace:{"]);
    expect(compact(tokenizeNginx("    }"))).toEqual(["brace:}"]);
    // After `{` or `;` on the same line a new statement starts.
    expect(compact(tokenizeNginx("location = /x { return 404; }"))).toEqual([
      "directive:location",
      "text:=",
      "text:/x",
      "brace:{",
      "directive:return",
      "number:404",
      "punct:;",
      "brace:}",
    ]);
  });

  it("finds variables in arguments and inside strings", () => {
    expect(compact(tokenizeNginx("    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"))).toEqual([
      "directive:proxy_set_header",
      "text:X-Forwarded-For",
      "variable:$proxy_add_x_forwarded_for",
      "punct:;",
    ]);
    expect(compact(tokenizeNginx("proxy_pass http://$host:8080/${uri}x;"))).toEqual([
      "directive:proxy_pass",
      "text:http://",
      "variable:$host",
      "text::8080/",
      "variable:${uri}",
      "text:x",
      "punct:;",
    ]);
    expect(compact(tokenizeNginx('        return 200 "backend=$host id=$1\\n";'))).toEqual([
      "directive:return",
      "number:200",
      'string:"backend=',
      "variable:$host",
      "string: id=",
      "variable:$1",
      'string:\\n"',
      "punct:;",
    ]);
    // A `$` that starts no variable stays in the string (the end of a regex).
    expect(compact(tokenizeNginx('if ($remote_addr !~ "^(127\\.0\\.0\\.1|::1)$") {'))).toEqual([
      "directive:if",
      "text:(",
      "variable:$remote_addr",
      "text:!~",
      'string:"^(127\\.0\\.0\\.1|::1)$"',
      "text:)",
      "brace:{",
    ]);
  });

  it("handles quotes with escapes, single quotes and unterminated strings", () => {
    expect(compact(tokenizeNginx('add_header X-Note "say \\"hi\\"; ok" always;'))).toEqual([
      "directive:add_header",
      "text:X-Note",
      'string:"say \\"hi\\"; ok"',
      "text:always",
      "punct:;",
    ]);
    expect(compact(tokenizeNginx("    ''      close;"))).toEqual(["string:''", "text:close", "punct:;"]);
    expect(compact(tokenizeNginx('return 200 "open'))).toEqual(["directive:return", "number:200", 'string:"open']);
  });

  it("treats # as a comment where a token starts, to the end of the line", () => {
    expect(compact(tokenizeNginx("# Managed by Gantry: domain group 1 (web), 2 domains. Do not edit."))).toEqual([
      "comment:# Managed by Gantry: domain group 1 (web), 2 domains. Do not edit.",
    ]);
    expect(compact(tokenizeNginx("        proxy_pass http://127.0.0.1:9;# was http://10.0.0.5:8080;"))).toEqual([
      "directive:proxy_pass",
      "text:http://127.0.0.1:9",
      "punct:;",
      "comment:# was http://10.0.0.5:8080;",
    ]);
    expect(compact(tokenizeNginx('return 200 "a#b"; # c'))).toEqual(["directive:return", "number:200", 'string:"a#b"', "punct:;", "comment:# c"]);
  });

  it("gives back the exact line, whitespace included", () => {
    for (const line of ["", "   ", "\tlisten [::]:80;  ", 'map $http_upgrade $gantry_connection_upgrade {', "  a 'b' \"c\" # d", "}}"]) {
      expect(joined(tokenizeNginx(line))).toBe(line);
    }
  });

  it("carries statements across lines in whole files", () => {
    const lines = tokenizeNginxText("log_format main '$remote_addr'\n    '$status';\nserver {\n}\n");
    expect(lines).toHaveLength(4);
    expect(compact(lines[1])).toEqual(["string:'", "variable:$status", "string:'", "punct:;"]);
    expect(compact(lines[2])).toEqual(["directive:server", "brace:{"]);
    expect(splitLines("a\nb\n")).toEqual(["a", "b"]);
    expect(splitLines("")).toEqual([]);
  });
});

const PLAN = `--- a/group-1.conf
+++ b/group-1.conf
@@ -1,5 +1,6 @@
 # Managed by Gantry: domain group 1 (web), 1 domain. Do not edit.
 
 server {
-    proxy_pass http://10.0.0.5:8080;
+    proxy_pass http://10.0.0.5:8081;
+    proxy_read_timeout 30s;
 }
--- /dev/null
+++ b/group-2.conf
@@ -0,0 +1,2 @@
+# new
+server {
--- a/group-3.conf
+++ /dev/null
@@ -1 +0,0 @@
--- a comment that looks like a header
\\ No newline at end of file
`;

describe("parseUnifiedDiff", () => {
  it("splits files, numbers the lines and counts additions and deletions", () => {
    const d = parseUnifiedDiff(PLAN);
    expect(d.files.map((f) => [f.name, f.change, f.additions, f.deletions])).toEqual([
      ["group-1.conf", "modified", 2, 1],
      ["group-2.conf", "added", 2, 0],
      ["group-3.conf", "removed", 0, 1],
    ]);
    const f = d.files[0];
    expect(f.lines.map((l) => l.kind)).toEqual(["hunk", "context", "context", "context", "del", "add", "add", "context"]);
    expect(f.lines[4]).toEqual({ kind: "del", text: "    proxy_pass http://10.0.0.5:8080;", oldNo: 4 });
    expect(f.lines[5]).toEqual({ kind: "add", text: "    proxy_pass http://10.0.0.5:8081;", newNo: 4 });
    expect(f.lines[7]).toMatchObject({ kind: "context", oldNo: 5, newNo: 6 });
    expect(d.files[1].lines[1]).toMatchObject({ kind: "add", newNo: 1 });
  });

  it("keeps a removed line starting with '-- ' as content, and the no-newline note", () => {
    const removed = parseUnifiedDiff(PLAN).files[2];
    expect(removed.lines.map((l) => [l.kind, l.text])).toEqual([
      ["hunk", "@@ -1 +0,0 @@"],
      ["del", "-- a comment that looks like a header"],
      ["note", "\\ No newline at end of file"],
    ]);
  });

  it("names drift files without their expected/found prefixes and keeps a truncation notice", () => {
    const d = parseUnifiedDiff("--- expected/live/group-1.conf\n+++ found/live/group-1.conf\n@@ -1 +1 @@\n-a\n+b\n\n… (diff truncated at 1 MiB; the generation's files are complete)\n");
    expect(d.files[0].name).toBe("live/group-1.conf");
    expect(d.trailer).toEqual(["… (diff truncated at 1 MiB; the generation's files are complete)"]);
    expect(parseUnifiedDiff("")).toEqual({ files: [], trailer: [] });
  });

  it("highlights content lines as nginx and leaves hunk headers alone", () => {
    const f = parseUnifiedDiff(PLAN).files[0];
    expect(compact(diffLineTokens(f.lines[5]))).toEqual(["directive:proxy_pass", "text:http://10.0.0.5:8081", "punct:;"]);
    expect(compact(diffLineTokens(f.lines[1]))).toEqual(["comment:# Managed by Gantry: domain group 1 (web), 1 domain. Do not edit."]);
    expect(diffLineTokens(f.lines[0])).toEqual([{ type: "text", text: "@@ -1,5 +1,6 @@" }]);
  });
});
