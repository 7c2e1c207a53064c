// Refreshes openapi.json from the gantry binary (`gantry openapi`) and
// regenerates src/api/schema.d.ts. Binary: $GANTRY_BIN or ../target/debug/gantry.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const web = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const bin = process.env.GANTRY_BIN ? resolve(process.env.GANTRY_BIN) : resolve(web, "../target/debug/gantry");
const json = execFileSync(bin, ["openapi"], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
JSON.parse(json); // fail loudly on anything that is not JSON
writeFileSync(resolve(web, "openapi.json"), json);
console.log(`openapi.json refreshed from ${bin}`);
execFileSync("npm", ["run", "--silent", "gen:api"], { cwd: web, stdio: "inherit" });
