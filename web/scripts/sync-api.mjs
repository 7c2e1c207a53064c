// Refreshes openapi.json from the gantry binary (`gantry openapi`) and
// regenerates src/api/schema.d.ts. Binary: $GANTRY_BIN or ../target/debug/gantry.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const web = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const bin = process.env.GANTRY_BIN ? resolve(process.env.GANTRY_BIN) : resolve(web, "../target/debug/gantry");
let json = execFileSync(bin, ["openapi"], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
const doc = JSON.parse(json); // fail loudly on anything that is not JSON

// OpenAPI requires unique operationIds, and the generated types key each
// route's types by it: two routes with one id would silently share (wrong)
// types. Keep the first, rename later ones after their method and path, and
// say so, so the handler gets its own `operation_id`.
const seen = new Set();
let renamed = 0;
for (const [path, item] of Object.entries(doc.paths ?? {})) {
  for (const [method, op] of Object.entries(item)) {
    if (!op || typeof op !== "object" || typeof op.operationId !== "string") continue;
    if (seen.has(op.operationId)) {
      const unique = `${op.operationId}__${method}${path.replace(/[^A-Za-z0-9]+/g, "_")}`;
      console.warn(`warning: operationId "${op.operationId}" is used twice; ${method.toUpperCase()} ${path} renamed to "${unique}" (give the handler a unique operation_id)`);
      op.operationId = unique;
      renamed++;
    }
    seen.add(op.operationId);
  }
}
if (renamed > 0) json = JSON.stringify(doc, null, 2) + "\n";
writeFileSync(resolve(web, "openapi.json"), json);
console.log(`openapi.json refreshed from ${bin}`);
execFileSync("npm", ["run", "--silent", "gen:api"], { cwd: web, stdio: "inherit" });
