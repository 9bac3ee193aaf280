// A real Tessera server for the end-to-end tests and benchmarks: a fresh database in the test
// cluster, the debug binary on a free port with its own data folder, serving web/dist, and an
// administrator. `node e2e/server.mjs` runs one until Ctrl-C and prints how to reach it.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const webDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const repoRoot = resolve(webDir, '..');
/** Where screenshots, logs and reports go (the repository's git-ignored target/). */
export const artifactsDir = join(repoRoot, 'target', 'e2e-artifacts');

const defaultDatabaseUrl = 'postgres://postgres@127.0.0.1:55433/postgres';

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.unref();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** `{'rate_limits.enabled': 'false'}` → `{TESSERA_RATE_LIMITS__ENABLED: 'false'}`. */
function overrideEnv(overrides) {
  const env = {};
  for (const [key, value] of Object.entries(overrides)) {
    env[`TESSERA_${key.toUpperCase().replaceAll('.', '__')}`] = String(value);
  }
  return env;
}

function databaseUrlFor(adminUrl, name) {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

async function adminQuery(adminUrl, sql) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function run(bin, args, env, input) {
  return new Promise((ok, fail) => {
    const child = spawn(bin, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', fail);
    child.on('exit', (code) =>
      code === 0 ? ok(out) : fail(new Error(`${bin} ${args.join(' ')} exited ${code}: ${out}`)),
    );
    child.stdin.end(input ?? '');
  });
}

/**
 * Starts a server. `processing`: whether it runs analysis jobs; `overrides`: configuration keys
 * (`{'quotas.uploads_per_day': 5}`); `logName`: its log file under target/e2e-artifacts.
 * Resolves to `{ url, admin: {email, password}, databaseUrl, stop() }`.
 */
export async function startServer({ processing = true, overrides = {}, logName = 'server.log' } = {}) {
  const bin = resolve(webDir, process.env.TESSERA_E2E_BIN ?? '../target/debug/tessera');
  const adminUrl = process.env.TESSERA_E2E_DATABASE_URL ?? defaultDatabaseUrl;
  const dbName = `tessera_e2e_${randomBytes(6).toString('hex')}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${dbName}`);
  const databaseUrl = databaseUrlFor(adminUrl, dbName);
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-e2e-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    TESSERA_MODE: 'dev',
    TESSERA_DATA_DIR: dataDir,
    TESSERA_SERVER__HOST: '127.0.0.1',
    TESSERA_SERVER__PORT: String(port),
    TESSERA_SERVER__WEB_DIR: process.env.TESSERA_E2E_WEB_DIR ?? join(webDir, 'dist'),
    TESSERA_AUTH__JWT_SECRET: randomBytes(32).toString('hex'),
    // The scenarios sign up and go straight in; approval has its own unit and API tests.
    TESSERA_AUTH__APPROVE_NEW_ACCOUNTS: 'false',
    TESSERA_PROCESSING__ENABLED: String(processing),
    ...overrideEnv(overrides),
  };
  // The server reads every TESSERA_* variable as configuration except a few prefixes (see
  // src/config.rs); this harness's own TESSERA_E2E_* ones and a stray config file must not reach it.
  for (const k of Object.keys(env)) if (k.startsWith('TESSERA_E2E_')) delete env[k];
  delete env.TESSERA_CONFIG;

  mkdirSync(artifactsDir, { recursive: true });
  const log = createWriteStream(join(artifactsDir, logName), { flags: 'a' });
  const child = spawn(bin, ['serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const exited = new Promise((ok) => child.on('exit', (code, signal) => ok({ code, signal })));
  let gone = null;
  exited.then((r) => (gone = r));
  child.on('error', (e) => (gone = { error: e }));

  let stopped = false;
  async function stop() {
    if (stopped) return;
    stopped = true;
    if (!gone) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(timer);
    }
    log.end();
    rmSync(dataDir, { recursive: true, force: true });
    await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch((e) =>
      console.error(`dropping ${dbName}: ${e.message}`),
    );
  }

  try {
    // Migrations and model checks can take a while on a cold start.
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (gone) throw new Error(`tessera serve exited early (${JSON.stringify(gone)}); see ${join(artifactsDir, logName)}`);
      try {
        const r = await fetch(`${url}/ready`);
        if (r.ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`${url}/ready did not answer within 120 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const admin = {
      email: `admin-${randomBytes(3).toString('hex')}@example.com`,
      password: process.env.TESSERA_ADMIN_PASSWORD ?? `E2e-admin-${randomBytes(8).toString('hex')}`,
    };
    await run(bin, ['users', 'create-admin', '--email', admin.email], {
      ...env,
      TESSERA_ADMIN_PASSWORD: admin.password,
    });
    return { url, admin, databaseUrl, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const processing = process.env.TESSERA_E2E_PROCESSING !== 'false';
  const server = await startServer({ processing });
  console.log(`Tessera: ${server.url}`);
  console.log(`admin:   ${server.admin.email} / ${server.admin.password}`);
  console.log(`log:     ${join(artifactsDir, 'server.log')}   (Ctrl-C stops it and drops the database)`);
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    await server.stop();
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}
