/**
 * moto_server processes for over-the-wire tests (test/helpers/moto.ts builds on them):
 * `startMoto()` in a test's setup, `stop()` in its teardown.
 *
 * Every `startMoto()` hands out a server with moto's state empty, so state never leaks between
 * files. By default each is a process of its own, stopped by `stop()`. Under mocha
 * (test/setup.ts calls `shareMotoServers()`) a stopped server is kept and handed, reset
 * (`POST /moto-api/reset`, and every state transition a holder set through `setTransition`
 * unset), to the next `startMoto()`: a cold moto_server costs seconds of Python start-up and
 * lazy imports on its first EC2 call, a reset one a fraction of a second. A server is never
 * handed to two holders at once (two `startMoto()`s without a `stop()` get two processes).
 * No AWS SDK here, so test/setup.ts loads none.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';

export interface Moto {
  endpoint: string;
  region: string;
  /** Client config for any SDK v3 client pointed at this server. */
  clientConfig: {
    region: string;
    endpoint: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  stop(): Promise<void>;
}

/** The moto_server executable: a project virtualenv (scripts/ensure-moto.sh) or the PATH. */
export function motoCommand(): string {
  const local = resolve('.venv/bin/moto_server');
  return existsSync(local) ? local : 'moto_server';
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** One moto_server process. */
interface MotoProcess {
  child: ChildProcess;
  endpoint: string;
  /** Models whose state transition a holder set (setTransition): unset before the next one. */
  transitions: Set<string>;
}

async function spawnMoto(): Promise<MotoProcess> {
  const port = await freePort();
  const child: ChildProcess = spawn(motoCommand(), ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) =>
      reject(
        new Error(
          `cannot start moto_server (${err.message}); run scripts/ensure-moto.sh or pip install "moto[server]"`,
        ),
      ),
    ),
  );
  const endpoint = `http://127.0.0.1:${port}`;
  // moto starts in well under a second here; 60 s allows for a cold Python on a slow or
  // heavily loaded box (at load average 30 it took more than 20 s).
  const deadline = Date.now() + 60_000;
  const ready = (async () => {
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`moto_server exited with ${child.exitCode}: ${stderr}`);
      try {
        const res = await fetch(`${endpoint}/moto-api/`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline)
        throw new Error(`moto_server did not answer on ${endpoint} within 60 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  try {
    await Promise.race([ready, spawnError]);
  } catch (err) {
    // A server that never answered is still a process: stop it, or mocha never exits.
    if (child.exitCode === null) child.kill('SIGKILL');
    throw err;
  }
  return { child, endpoint, transitions: new Set() };
}

async function stopProcess(
  { child }: MotoProcess,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  await exited;
}

const alive = (p: MotoProcess) => p.child.exitCode === null && p.child.signalCode === null;

/**
 * The kept servers. On globalThis, not in module scope: test/setup.ts is loaded by mocha's
 * require (tsx's CommonJS hooks) and the test files by import, which gives this module two
 * instances in one process — both must see the same servers.
 */
interface Sharing {
  on: boolean;
  /** Kept servers no holder has now. */
  idle: MotoProcess[];
  /** Every server started while sharing was on. */
  kept: Set<MotoProcess>;
}
const SHARING = Symbol.for('themis.test.motoServers');
const sharing: Sharing =
  ((globalThis as Record<symbol, unknown>)[SHARING] as Sharing) ??
  ((globalThis as Record<symbol, unknown>)[SHARING] = { on: false, idle: [], kept: new Set() });
const holders = new WeakMap<Moto, MotoProcess>();

/**
 * Keep stopped servers for the next `startMoto()` of this process (test/setup.ts turns it on
 * for mocha). Kept servers never hold the process open, and are killed when it exits;
 * `stopSharedMotoServers()` stops them before.
 */
export function shareMotoServers(): void {
  if (sharing.on) return;
  sharing.on = true;
  process.once('exit', () => {
    for (const p of sharing.kept) if (alive(p)) p.child.kill('SIGKILL');
  });
}

/** Stop every kept server (mocha's root after-all hook, test/setup.ts). */
export async function stopSharedMotoServers(): Promise<void> {
  const all = [...sharing.kept];
  sharing.idle.length = 0;
  sharing.kept.clear();
  // SIGKILL: moto has nothing to keep, and a Python tearing down every backend a run loaded
  // took seconds to exit on SIGTERM.
  await Promise.all(all.map((p) => stopProcess(p, 'SIGKILL')));
}

/** moto's state back to empty: every service reset, and the transitions holders set unset. */
async function resetMoto(p: MotoProcess): Promise<void> {
  const post = async (path: string, body?: string) => {
    const res = await fetch(`${p.endpoint}/moto-api/${path}`, { method: 'POST', body });
    if (!res.ok) throw new Error(`moto_server ${path} answered ${res.status}`);
  };
  await post('reset');
  for (const model of p.transitions) {
    await post('state-manager/unset-transition', JSON.stringify({ model_name: model }));
  }
  p.transitions.clear();
}

/** A moto_server with empty state, for one holder until its `stop()`. */
export async function startMoto(region = 'us-east-1'): Promise<Moto> {
  let p: MotoProcess | undefined;
  while (sharing.on && !p && sharing.idle.length > 0) {
    const candidate = sharing.idle.pop()!;
    if (!alive(candidate)) continue;
    try {
      await resetMoto(candidate);
      p = candidate;
    } catch {
      sharing.kept.delete(candidate);
      await stopProcess(candidate);
    }
  }
  if (!p) {
    p = await spawnMoto();
    if (sharing.on) {
      sharing.kept.add(p);
      // An idle kept server must not keep mocha from exiting; the exit hook kills it.
      p.child.unref();
      (p.child.stderr as { unref?: () => void } | null)?.unref?.();
    }
  }
  const process_ = p;
  const endpoint = p.endpoint;
  let stopped = false;
  const moto: Moto = {
    endpoint,
    region,
    clientConfig: {
      region,
      endpoint,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (sharing.on && sharing.kept.has(process_) && alive(process_)) sharing.idle.push(process_);
      else await stopProcess(process_);
    },
  };
  holders.set(moto, p);
  return moto;
}

/**
 * Set moto's state transition for `model` (POST /moto-api/state-manager/set-transition); it
 * is unset before the server is handed to another holder.
 */
export async function setTransition(
  moto: Moto,
  model: string,
  transition: Record<string, unknown>,
): Promise<void> {
  const p = holders.get(moto);
  p?.transitions.add(model);
  const res = await fetch(`${moto.endpoint}/moto-api/state-manager/set-transition`, {
    method: 'POST',
    body: JSON.stringify({ model_name: model, transition }),
  });
  if (!res.ok) throw new Error(`moto_server set-transition answered ${res.status}`);
}

/**
 * moto's state transition for `model` now (GET /moto-api/state-manager/get-transition). The
 * name goes unencoded: moto does not decode it (`ecs%3A%3Atask` reads as an unknown model).
 */
export async function getTransition(moto: Moto, model: string): Promise<Record<string, unknown>> {
  const res = await fetch(
    `${moto.endpoint}/moto-api/state-manager/get-transition?model_name=${model}`,
  );
  if (!res.ok) throw new Error(`moto_server get-transition answered ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}
