// Running ordinary tools against a mount, as a given user when asked.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';

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
