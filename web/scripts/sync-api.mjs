// Refreshes openapi.json from the gantry binary (`gantry openapi`) and
// regenerates src/api/schema.d.ts. Binary: $GANTRY_BIN or ../target/debug/gantry.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const web = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const bin = process.env.GANTRY_BIN ? resolve(process.env.GANTRY_BIN) : resolve(web, "../target/debug/gantry");
const json = execFileSync(bin, ["openapi"], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
const doc = JSON.parse(json); // fail loudly on anything that is not JSON

// OpenAPI requires unique operationIds, and the generated types key each
// route's types by it: two routes with one id would silently share (wrong)
// types. Refuse, naming them, so the handler gets its own `operation_id`.
const seen = new Map();
const clashes = [];
for (const [path, item] of Object.entries(doc.paths ?? {})) {
  for (const [method, op] of Object.entries(item)) {
    if (!op || typeof op !== "object" || typeof op.operationId !== "string") continue;
    const here = `${method.toUpperCase()} ${path}`;
    if (seen.has(op.operationId)) clashes.push(`"${op.operationId}": ${seen.get(op.operationId)} and ${here}`);
    else seen.set(op.operationId, here);
  }
}
if (clashes.length > 0) {
  console.error(`Duplicate OpenAPI operationIds (give each handler a unique operation_id):\n  ${clashes.join("\n  ")}`);
  process.exit(1);
}
writeFileSync(resolve(web, "openapi.json"), json);
console.log(`openapi.json refreshed from ${bin}`);
execFileSync("npm", ["run", "--silent", "gen:api"], { cwd: web, stdio: "inherit" });
