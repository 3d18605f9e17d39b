import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

export interface NodeProcess {
  child: ChildProcess;
  /** Every line it printed (stdout and stderr). */
  output: string[];
  /** Its base URL once it listens (`http://127.0.0.1:<port>`). */
  listening: Promise<string>;
  exited: Promise<[number | null, string | null]>;
}

/** Runs the real entry point (src/main.ts under Node's type stripping) as a child process. */
export function startProcess(env: Record<string, string>, nodeFlags: string[] = []): NodeProcess {
  const child = spawn(process.execPath, [...nodeFlags, 'src/main.ts'], {
    env: {
      PATH: process.env.PATH ?? '',
      ...(process.env.MEDIASOUP_WORKER_BIN ? { MEDIASOUP_WORKER_BIN: process.env.MEDIASOUP_WORKER_BIN } : {}),
      HOST: '127.0.0.1',
      PORT: '0',
      SFU_ENABLED: 'false',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const listening = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      output.push(line);
      const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
      if (match?.[1]) resolve(match[1]);
    });
    createInterface({ input: child.stderr! }).on('line', (line) => output.push(line));
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${output.join('\n')}`)));
  });
  // A test that never awaits `listening` must not see an unhandled rejection when it kills the child.
  listening.catch(() => undefined);
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
  return { child, output, listening, exited };
}

export function stopProcess(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
