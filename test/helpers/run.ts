// Running ordinary tools against a mount, as a given user when asked, and the
// services a test runs beside one (a Prometheus, a collector): a free port for
// each, and stopping them.
import { spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RunOptions {
  cwd?: string;
  uid?: number;
  gid?: number;
  input?: string;
  env?: NodeJS.ProcessEnv;
}

/** Runs a command to completion; throws with its output if it fails. */
export function sh(script: string, o: RunOptions = {}): string {
  const r = run('sh', ['-c', script], o);
  if (r.status !== 0) throw new Error(`sh -c ${JSON.stringify(script)} exited ${r.status}:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

export function run(cmd: string, args: string[], o: RunOptions = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, {
    cwd: o.cwd,
    uid: o.uid,
    gid: o.gid,
    input: o.input,
    env: o.env ? { ...process.env, ...o.env } : process.env,
    encoding: 'utf8',
    timeout: 120_000,
  });
}

/** Runs a Python snippet (for syscalls the shell tools lack: renameat2, SEEK_DATA, ...). */
export function py(code: string, o: RunOptions = {}): string {
  const r = run('python3', ['-c', code], o);
  if (r.status !== 0) throw new Error(`python failed (${r.status}):\n${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** `signal` (SIGTERM), then SIGKILL if it has not ended within 10 s; resolves once it has ended. Safe on one that already ended. */
export async function stopProcess(child: ChildProcess, exited: Promise<unknown>, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  const r = await Promise.race([exited, sleep(10_000).then(() => 'timeout' as const)]);
  if (r === 'timeout') child.kill('SIGKILL');
  await exited;
}
