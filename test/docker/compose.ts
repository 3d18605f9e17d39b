import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';

/*
 * Helpers for the Docker test: run docker-compose on the project's own docker-compose.yml, with a
 * private project name, controlled variables and free host ports, so that it neither reads a
 * developer's .env nor collides with a server (or another stack) already running on this host.
 */

export interface CommandResult {
  code: number;
  stdout: string;
  /** stdout and stderr, interleaved as they came. */
  output: string;
}

/** Runs a command; never rejects on a non-zero exit (the caller decides), only on a timeout. */
export function run(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    const stdout: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => {
      chunks.push(c);
      stdout.push(c);
    });
    child.stderr.on('data', (c: Buffer) => chunks.push(c));
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      reject(
        new Error(
          `${command} ${args.join(' ')} timed out after ${options.timeoutMs} ms:\n${tail(Buffer.concat(chunks).toString())}`,
        ),
      );
    }, options.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(stdout).toString(),
        output: Buffer.concat(chunks).toString(),
      });
    });
  });
}

/** The last `lines` lines of a text. */
export function tail(text: string, lines = 60): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** The variables docker-compose.yml interpolates; all of them are set, so nothing leaks in from the shell. */
export interface ComposeVariables {
  ANNOUNCED_IP: string;
  HTTP_PORT: string;
  RTC_PORT: string;
  RTC_PORT_LAST: string;
  MEDIASOUP_NUM_WORKERS: string;
  CLIENT_URL: string;
  LOG_LEVEL: string;
}

export class ComposeStack {
  readonly project: string;
  readonly cwd: string;
  readonly #command: string[];
  readonly #env: NodeJS.ProcessEnv;
  readonly #envFileDir: string;

  constructor(options: { project: string; cwd: string; variables: ComposeVariables }) {
    this.project = options.project;
    this.cwd = options.cwd;
    // DOCKER_COMPOSE="docker compose" runs Compose v2 instead of the docker-compose (v1) command.
    this.#command = (process.env.DOCKER_COMPOSE ?? 'docker-compose').split(' ').filter(Boolean);
    this.#env = { ...process.env, ...options.variables };
    // An empty --env-file: a developer's .env next to docker-compose.yml must not change the test.
    this.#envFileDir = mkdtempSync(join(tmpdir(), 'opencall-compose-'));
    writeFileSync(join(this.#envFileDir, 'empty.env'), '');
  }

  /** docker-compose -p <project> -f docker-compose.yml --env-file <empty> ...args */
  compose(args: string[], timeoutMs = 120_000): Promise<CommandResult> {
    const [command = 'docker-compose', ...pre] = this.#command;
    return run(
      command,
      [
        ...pre,
        '--project-name',
        this.project,
        '--file',
        join(this.cwd, 'docker-compose.yml'),
        '--env-file',
        join(this.#envFileDir, 'empty.env'),
        ...args,
      ],
      { cwd: this.cwd, env: this.#env, timeoutMs },
    );
  }

  /** Like compose(), but throws with the command's output when it fails; returns its stdout. */
  async composeOk(args: string[], timeoutMs?: number): Promise<string> {
    const result = await this.compose(args, timeoutMs);
    if (result.code !== 0) {
      throw new Error(`docker-compose ${args.join(' ')} exited with ${result.code}:\n${tail(result.output)}`);
    }
    return result.stdout;
  }

  /** The host address:port a container port is published on, e.g. 0.0.0.0:40000 (empty when not). */
  async port(service: string, containerPort: number, protocol: 'tcp' | 'udp'): Promise<string> {
    const result = await this.compose(['port', '--protocol', protocol, service, String(containerPort)]);
    return result.code === 0 ? result.stdout.trim() : '';
  }

  /** Stops and removes the containers, the network and the volumes. */
  async down(): Promise<void> {
    await this.composeOk(['down', '--volumes', '--remove-orphans', '--timeout', '15'], 120_000);
  }

  /** What docker still holds of this project: container, network and volume ids (all empty after down). */
  async leftovers(): Promise<string[]> {
    const filter = `label=com.docker.compose.project=${this.project}`;
    const ids: string[] = [];
    for (const args of [
      ['ps', '--all', '--quiet', '--filter', filter],
      ['network', 'ls', '--quiet', '--filter', filter],
      ['volume', 'ls', '--quiet', '--filter', filter],
    ]) {
      const result = await run('docker', args, { cwd: this.cwd, env: this.#env, timeoutMs: 30_000 });
      if (result.code !== 0) throw new Error(`docker ${args.join(' ')}: ${tail(result.output)}`);
      ids.push(
        ...result.stdout
          .split('\n')
          .filter(Boolean)
          .map((id) => `${args[0]} ${id}`),
      );
    }
    return ids;
  }

  /** Removes the temporary env file. */
  dispose(): void {
    rmSync(this.#envFileDir, { recursive: true, force: true });
  }
}

/**
 * Puts the locally built worker (MEDIASOUP_WORKER_BIN) at docker/mediasoup-worker, where the
 * Dockerfile picks it up instead of downloading one. Copies only when it differs, so the build
 * cache stays valid. Without MEDIASOUP_WORKER_BIN the image build downloads mediasoup's prebuilt one.
 */
export function stageWorker(root: string): string | undefined {
  const source = process.env.MEDIASOUP_WORKER_BIN;
  if (!source) return undefined;
  if (!existsSync(source)) throw new Error(`MEDIASOUP_WORKER_BIN=${source} does not exist`);
  const target = join(root, 'docker', 'mediasoup-worker');
  if (!existsSync(target) || !readFileSync(target).equals(readFileSync(source))) {
    copyFileSync(source, target);
  }
  return target;
}

/** This host's first non-loopback IPv4 address (eth0's, say): where the published ports are reached. */
export function hostIPv4(): string {
  const fromEnv = process.env.DOCKER_TEST_ANNOUNCED_IP;
  if (fromEnv) return fromEnv;
  for (const [name, addresses] of Object.entries(networkInterfaces())) {
    // Docker's own bridges (docker0, br-<id>) and veth pairs face the containers, not clients.
    if (/^(docker|br-|veth)/.test(name)) continue;
    for (const a of addresses ?? []) {
      if (a.family === 'IPv4' && !a.internal) return a.address;
    }
  }
  throw new Error('no non-loopback IPv4 address on this host; set DOCKER_TEST_ANNOUNCED_IP');
}

export async function udpFree(port: number): Promise<boolean> {
  const socket = createSocket('udp4');
  return new Promise((resolve) => {
    socket.once('error', () => resolve(false));
    socket.bind(port, '0.0.0.0', () => socket.close(() => resolve(true)));
  });
}

export async function tcpFree(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '0.0.0.0', () => server.close(() => resolve(true)));
  });
}

/**
 * A base port such that base..base+count-1 are free on all addresses, UDP and TCP, right now
 * (docker-proxy binds 0.0.0.0). Random, below Linux's ephemeral range, away from 4000 and 40000.
 */
export async function freePortBase(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 21000 + Math.floor(Math.random() * 11000);
    let ok = true;
    for (let port = base; port < base + count && ok; port++) {
      ok = (await udpFree(port)) && (await tcpFree(port));
    }
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}
