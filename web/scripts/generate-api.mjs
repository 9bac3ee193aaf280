// openapi.json → src/api/schema.d.ts (git-ignored), run by `npm run generate`.
//
// openapi-typescript refers to every operation by its operationId, so two operations sharing
// one (utoipa defaults it to the handler's function name: `list`, `get`, …) would silently get
// each other's types. Such ids are dropped here, which makes the operation's types inline under
// its path; the document itself stays exactly as the server serves it.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

import openapiTS, { astToString } from 'openapi-typescript';

const SOURCE = 'openapi.json';
const TARGET = 'src/api/schema.d.ts';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const doc = JSON.parse(readFileSync(SOURCE, 'utf8'));
const uses = new Map();
for (const item of Object.values(doc.paths ?? {})) {
  for (const method of METHODS) {
    const id = item[method]?.operationId;
    if (id) uses.set(id, (uses.get(id) ?? 0) + 1);
  }
}
for (const item of Object.values(doc.paths ?? {})) {
  for (const method of METHODS) {
    const op = item[method];
    if (op?.operationId && uses.get(op.operationId) > 1) delete op.operationId;
  }
}

const ast = await openapiTS(doc, { alphabetize: false });
mkdirSync(dirname(TARGET), { recursive: true });
writeFileSync(
  TARGET,
  `/**\n * Generated from ${SOURCE} by scripts/generate-api.mjs (npm run generate). Do not edit.\n */\n\n${astToString(ast)}`,
);
console.log(`${SOURCE} → ${TARGET}`);
