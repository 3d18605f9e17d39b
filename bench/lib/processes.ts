import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, log, sleep } from './common.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RESULTS_DIR = join(ROOT, 'bench', 'results');

/** Every child this process started; killed on exit whatever happens. */
const children = new Set<ChildProcess>();
const killChildren = () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
};
process.once('exit', killChildren);
// A signal would end this process without 'exit': take the servers, redis and clients along.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killChildren();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

/** The environment children inherit: only what they need, so the parent's OpenCall variables never leak in. */
export function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ['PATH', 'HOME', 'LANG', 'TMPDIR', 'MEDIASOUP_WORKER_BIN', 'CHROMIUM_PATH']) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly pid: number;
  /** The last ~64 KB the child wrote to stdout/stderr. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`. Resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
  readonly exited: Promise<number | null>;
}

function track(name: string, child: ChildProcess): Child {
  children.add(child);
  let out = '';
  const keep = (chunk: Buffer) => {
    out += chunk.toString();
    if (out.length > 65_536) out = out.slice(-65_536);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolveExit) => {
    child.once('exit', (code) => {
      children.delete(child);
      resolveExit(code);
    });
  });
  if (child.pid === undefined) throw new Error(`${name}: could not spawn`);
  return {
    name,
    process: child,
    pid: child.pid,
    output: () => out,
    exited,
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Node flags for a server under test: --cpu-prof when BENCH_PROFILE is set (see bench/README.md). */
function profileFlags(name: string): string[] {
  if (!process.env.BENCH_PROFILE) return [];
  mkdirSync(RESULTS_DIR, { recursive: true });
  return ['--cpu-prof', '--cpu-prof-dir', RESULTS_DIR, '--cpu-prof-name', `${name}.cpuprofile`];
}

/** Runs a TypeScript file of ours in a child Node (type stripping), with an IPC channel. */
export function forkScript(
  name: string,
  script: string,
  env: Record<string, string> = {},
  execArgv: string[] = [],
): Child {
  const child = fork(join(ROOT, script), [], {
    cwd: ROOT,
    env: { ...baseEnv(), ...env },
    execArgv: [...execArgv],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  return track(name, child);
}

export function spawnProcess(
  name: string,
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Child {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...baseEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return track(name, child);
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort(port: number, child: Child, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (child.process.exitCode !== null) {
      throw new Error(`${child.name} exited early (code ${child.process.exitCode}):\n${child.output()}`);
    }
    const ok = await new Promise<boolean>((res) => {
      const socket = connect({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        res(true);
      });
      socket.once('error', () => res(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${child.name} did not listen on ${port} within ${timeoutMs} ms:\n${child.output()}`);
}

/**
 * The V8 flags `npm start` (and the Docker image) run the server with, read from package.json so
 * the benchmarks measure what users run. The baselines get the same ones: like for like.
 */
export function shippedNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
  return pkg.scripts.start.split(/\s+/).filter((word) => word.startsWith('--'));
}

export interface ServerUnderTest extends Child {
  port: number;
  url: string;
  wsUrl: string;
}

/**
 * The real server, `node src/main.ts`, in its own process on a port picked here (PORT=0 cannot be
 * discovered from outside with LOG_LEVEL=warn, which silences "Server listening at"). Defaults:
 * LOG_LEVEL=warn, SFU_ENABLED=false, HOST=127.0.0.1; `env` overrides them.
 */
export async function startOpenCall(
  name: string,
  env: Record<string, string> = {},
  nodeFlags: string[] = [],
): Promise<ServerUnderTest> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child = spawnProcess(
      name,
      process.execPath,
      [...shippedNodeFlags(), ...profileFlags(name), ...nodeFlags, 'src/main.ts'],
      {
        LOG_LEVEL: 'warn',
        SFU_ENABLED: 'false',
        HOST: '127.0.0.1',
        ...env,
        PORT: String(port),
      },
    );
    try {
      await waitForHealth(port, child);
      return { ...child, port, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/ws` };
    } catch (err) {
      await child.stop(2000);
      if (attempt >= 2 || !/EADDRINUSE/.test(child.output())) throw err;
      log(`${name}: port ${port} was taken meanwhile; retrying`);
    }
  }
}

async function waitForHealth(port: number, child: Child, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (child.process.exitCode !== null) {
      throw new Error(`${child.name} exited early (code ${child.process.exitCode}):\n${child.output()}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await sleep(50);
  }
  throw new Error(`${child.name} not healthy on ${port} within ${timeoutMs} ms:\n${child.output()}`);
}

/** The bare `ws` relay (bench/baselines/bareRelay.ts) in its own process. */
export async function startBareRelay(
  name: string,
  env: Record<string, string> = {},
  nodeFlags: string[] = [],
): Promise<ServerUnderTest> {
  const port = await freePort();
  const child = spawnProcess(
    name,
    process.execPath,
    [...shippedNodeFlags(), ...profileFlags(name), ...nodeFlags, 'bench/baselines/bareRelay.ts'],
    {
      ...env,
      PORT: String(port),
    },
  );
  await waitForPort(port, child);
  return { ...child, port, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/ws` };
}

/**
 * A private redis-server on a free port, without persistence: the test suite's helper, so the
 * benchmark and the tests start Redis the same way (and honour REDIS_URL the same way).
 */
export { startRedisServer as startRedis } from '../../test/helpers/redisServer.ts';
