// Starts `coves-appview serve --demo` (the debug binary, built if needed) on a free
// loopback port with its own embedded database, and waits until it has indexed posts.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

async function freePort() {
  const server = createServer();
  await new Promise((ready) => server.listen(0, '127.0.0.1', ready));
  const { port } = server.address();
  await new Promise((closed) => server.close(closed));
  return port;
}

function binary() {
  if (process.env.COVES_APPVIEW_BIN) return process.env.COVES_APPVIEW_BIN;
  const build = spawnSync('cargo', ['build', '--locked', '-q', '-p', 'coves-appview', '--bin', 'coves-appview'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (build.status !== 0) throw new Error('cargo build of coves-appview failed');
  return resolve(root, 'target/debug/coves-appview');
}

/** Polls `check` until it returns a value, or fails after `seconds` with `what`. */
export async function eventually(what, seconds, check) {
  const deadline = Date.now() + seconds * 1000;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    await sleep(250);
  }
  throw new Error(`${what}: not within ${seconds} s${last ? ` (last error: ${last.message})` : ''}`);
}

/**
 * The running demo: `url`, `graphql(query, variables)` and `stop()`. The server's output
 * goes to `logPath`.
 */
export async function startDemo(logPath) {
  const port = await freePort();
  const env = { ...process.env, LISTEN_ADDR: `127.0.0.1:${port}`, RUST_LOG: process.env.RUST_LOG ?? 'info' };
  // A fresh embedded database, whatever the caller's environment points at.
  delete env.DATABASE_URL;
  const child = spawn(binary(), ['serve', '--demo'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(logPath);
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let exited = null;
  child.on('exit', (code, signal) => (exited = signal ?? code));

  const url = `http://127.0.0.1:${port}`;
  const graphql = async (query, variables = {}) => {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
    const body = await response.json();
    if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join('; '));
    return body.data;
  };
  const stop = async () => {
    if (exited !== null) return;
    child.kill('SIGTERM');
    await Promise.race([new Promise((done) => child.on('exit', done)), sleep(20_000)]);
    if (exited === null) child.kill('SIGKILL');
  };

  try {
    await eventually('the demo server answers /ready', 180, async () => {
      if (exited !== null) throw new Error(`the server exited (${exited}); see ${logPath}`);
      return (await fetch(`${url}/ready`)).ok;
    });
    await eventually('the demo has indexed posts', 60, async () => {
      const data = await graphql('{ posts(first: 1) { nodes { uri } } }');
      return data.posts.nodes.length > 0;
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, graphql, stop };
}
