// Mounting interposer for a test the way a user does: the real CLI in a child
// process. Everything started here is stopped and unmounted in finally.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify as toYaml } from 'yaml';
import type { z } from 'zod';
import type { configSchema } from '../../src/config/schema.ts';
import { stopProcess } from './run.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CLI = join(ROOT, 'src/cli/main.ts');
export const NODE = process.execPath;

export function isMounted(path: string): boolean {
  const want = resolve(path);
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === want);
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `interposer-test-${prefix}-`));
}

/** Runs `fn` with a fresh temporary directory, removing it afterwards whatever happens. */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => T | Promise<T>): Promise<T> {
  const dir = tempDir(prefix);
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A config document as a user writes it (units as strings, defaults left out). */
export type ConfigDoc = z.input<typeof configSchema>;

/**
 * Writes `config` (a document, or YAML text as it stands) to DIR/config.yaml,
 * replacing what was there, and returns the file's path.
 */
export function writeConfig(dir: string, config: ConfigDoc | string): string {
  const file = join(dir, 'config.yaml');
  writeFileSync(file, typeof config === 'string' ? config : toYaml(config));
  return file;
}

export interface Daemon {
  mountpoint: string;
  child: ChildProcess;
  /** Everything the daemon wrote to stderr so far. */
  log(): string;
  exited: Promise<number | null>;
}

/** Waits until `cond` holds, checking every 20 ms, for at most `ms`. */
export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Starts `interposer mount ARGS MOUNTPOINT` and waits until the mount is there. */
export async function startDaemon(args: string[], mountpoint: string, env: NodeJS.ProcessEnv = {}): Promise<Daemon> {
  const child = spawn(NODE, [CLI, 'mount', ...args, mountpoint], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let done = false;
  void exited.then(() => (done = true));
  try {
    // Wait for the daemon's own word: a dead mount left on the mountpoint
    // would satisfy a look at mountinfo before the new mount replaces it.
    await waitFor(() => /"msg":"mounted/.test(stderr) || done, 15000, `mount on ${mountpoint}`);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  if (!isMounted(mountpoint)) throw new Error(`daemon exited (${await exited}) without mounting:\n${stderr}`);
  return { mountpoint, child, log: () => stderr, exited };
}

/** Unmounts and stops the daemon; safe to call on one that already ended. */
export async function stopDaemon(d: Daemon): Promise<void> {
  await stopProcess(d.child, d.exited);
  if (isMounted(d.mountpoint)) {
    spawn('umount', ['-l', d.mountpoint]);
    await waitFor(() => !isMounted(d.mountpoint), 5000, `unmount of ${d.mountpoint}`);
  }
}

/** Runs `fn` with a fresh mount of `args`, always unmounting and removing the mountpoint. */
export function withMount<T>(args: string[], fn: (mnt: string, d: Daemon) => Promise<T>): Promise<T> {
  return withTempDir('mnt', async (mountpoint) => {
    let d: Daemon | undefined;
    try {
      d = await startDaemon(args, mountpoint);
      return await fn(mountpoint, d);
    } finally {
      if (d) await stopDaemon(d);
    }
  });
}
