// Mounting interposer for a test the way a user does: the real CLI in a child
// process. Everything started here is stopped and unmounted in finally.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify as toYaml } from 'yaml';
import type { z } from 'zod';
import type { configSchema } from '../../src/config/schema.ts';
import { DAEMON_ENV, daemonNodeFlags, v8PoolSize } from '../../src/cli/daemon-process.ts';
import { run, sh, stopProcess } from './run.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CLI = join(ROOT, 'src/cli/main.ts');
export const NODE = process.execPath;

export function isMounted(path: string): boolean {
  const want = resolve(path);
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === want);
}

/**
 * Checks, from /proc, that daemon `pid` was started as daemons must be however they are started:
 * with the daemon's Node flags and environment, and running as many V8 helper threads as its flags ask.
 */
export function assertDaemonProcess(pid: number): void {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  for (const flag of daemonNodeFlags()) assert.ok(argv.includes(flag), `the daemon runs with ${flag}: ${argv.join(' ')}`);
  const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  for (const [name, value] of Object.entries(DAEMON_ENV)) assert.ok(env.includes(`${name}=${value}`), `the daemon has ${name}=${value}`);
  const helpers = readdirSync(`/proc/${pid}/task`).filter(
    (tid) => readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() === 'node-V8Worker',
  );
  assert.equal(helpers.length, v8PoolSize(), 'V8 helper threads');
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

/**
 * Runs `fn` on an ext4 of its own: a 128 MiB image on a loop device with direct I/O, so that pages
 * dropped from its cache are read from the image again. `features`: more mkfs.ext4 options. As root.
 */
export async function withExt4<T>(fn: (dir: string) => Promise<T>, features = ''): Promise<T> {
  return withTempDir('ext4', async (tmp) => {
    const image = join(tmp, 'image');
    const mnt = join(tmp, 'fs');
    mkdirSync(mnt);
    sh(`truncate -s 128M ${image} && mkfs.ext4 -q -F -N 40000 -E nodiscard ${features} ${image}`);
    const loop = sh(`losetup --find --show --direct-io=on ${image}`).trim();
    try {
      sh(`mount -t ext4 ${loop} ${mnt}`);
      try {
        return await fn(mnt);
      } finally {
        // A file a failed test left open keeps the filesystem busy: detach it anyway, and the loop
        // device (autoclear) goes once that file is closed.
        if (run('umount', [mnt]).status !== 0) run('umount', ['-l', mnt]);
      }
    } finally {
      run('losetup', ['-d', loop]);
    }
  });
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

export interface Daemon extends Logged {
  mountpoint: string;
}

/** Waits until `cond` holds, checking every 20 ms, for at most `ms`. */
export async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A child started with its output gathered, as startLogged() returns it. */
export interface Logged {
  child: ChildProcess;
  log(): string;
  exited: Promise<number | null>;
}

/**
 * Starts `cmd` with its stdout and stderr gathered and waits until `ready` shows in them; kills it on a
 * timeout and throws with its output if it exits first.
 */
export async function startLogged(
  cmd: string,
  args: string[],
  o: { ready: RegExp; name: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<Logged> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let done = false;
  void exited.then(() => (done = true));
  try {
    await waitFor(() => o.ready.test(out) || done, o.timeoutMs ?? 20000, o.name);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  if (done || child.pid === undefined) throw new Error(`${o.name}: exited (${await exited}) instead:\n${out}`);
  return { child, log: () => out, exited };
}

/** Starts `interposer mount ARGS MOUNTPOINT` and waits until the mount is there. */
export async function startDaemon(args: string[], mountpoint: string, env: NodeJS.ProcessEnv = {}): Promise<Daemon> {
  // Wait for the daemon's own word: a dead mount left on the mountpoint
  // would satisfy a look at mountinfo before the new mount replaces it.
  const d = await startLogged(NODE, [CLI, 'mount', ...args, mountpoint], {
    ready: /"msg":"mounted/,
    name: `mount on ${mountpoint}`,
    env,
    timeoutMs: 15000,
  });
  if (!isMounted(mountpoint)) throw new Error(`daemon said it mounted ${mountpoint}, but it is not in mountinfo:\n${d.log()}`);
  return { mountpoint, ...d };
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

/** Runs `fn` on a fresh mount with `config`, over a new backing directory (passthrough) or in memory. */
export function withBackendMount<T>(
  backend: 'passthrough' | 'memory',
  config: ConfigDoc,
  fn: (mnt: string, d: Daemon) => Promise<T>,
): Promise<T> {
  return withTempDir('backend', (dir) => {
    const backing = join(dir, 'backing');
    mkdirSync(backing);
    const spec = backend === 'passthrough' ? `passthrough:${backing}` : 'memory';
    return withMount(['--config', writeConfig(dir, config), '--backend', spec], fn);
  });
}
