// Child processes for the benchmark. The bench process never does file I/O on
// a mount itself: every workload step is a child (the bench's own worker, fio,
// tar, sqlite3, rm), started asynchronously and timed from spawn to exit.
import { spawn, type SpawnOptions } from 'node:child_process';
import { accessSync, constants, readFileSync, writeFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');
export const NODE = process.execPath;
export const WORKER = resolve(import.meta.dirname, 'worker.ts');

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, in seconds. */
  seconds: number;
}

export interface RunOptions {
  cwd?: string;
  input?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill the child (SIGKILL) after this many seconds. */
  timeout?: number;
}

const children = new Set<ReturnType<typeof spawn>>();

/** Synchronous, for 'exit' handlers: SIGKILL every workload child still running. */
export function killChildren(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
}

/** Runs `cmd args` to completion; never throws for a non-zero exit (see `check`). */
export function run(cmd: string, args: string[], o: RunOptions = {}): Promise<Ran> {
  return new Promise((done, fail) => {
    const opts: SpawnOptions = {
      cwd: o.cwd,
      env: { ...process.env, ...o.env },
      stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    };
    const started = performance.now();
    const child = spawn(cmd, args, opts);
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = o.timeout ? setTimeout(() => child.kill('SIGKILL'), o.timeout * 1000) : undefined;
    child.on('error', (err) => {
      children.delete(child);
      clearTimeout(timer);
      fail(err);
    });
    child.on('close', (code, signal) => {
      children.delete(child);
      clearTimeout(timer);
      done({ code, signal, stdout, stderr, seconds: (performance.now() - started) / 1000 });
    });
    if (o.input !== undefined) child.stdin!.end(o.input);
  });
}

/** `run`, throwing with the command's stderr when it fails. */
export async function check(cmd: string, args: string[], o: RunOptions = {}): Promise<Ran> {
  const r = await run(cmd, args, o);
  if (r.code !== 0) {
    const why = r.signal ? `signal ${r.signal}` : `status ${r.code}`;
    const said = (r.stderr || r.stdout).trim().split('\n').slice(0, 3).join('\n');
    throw new Error(`${basename(cmd)} ${args.join(' ').slice(0, 300)}: ${why}\n${said}`);
  }
  return r;
}

/** Runs one step of bench/worker.ts and returns the JSON object it prints. */
export async function worker(step: string, args: Array<string | number>, env?: NodeJS.ProcessEnv): Promise<Record<string, number>> {
  const r = await check(NODE, [WORKER, step, ...args.map(String)], { env, timeout: 600 });
  return JSON.parse(r.stdout) as Record<string, number>;
}

/** How long after spawning them clients run together start their steps: ample for a Node start on a busy machine. */
export const TOGETHER_AFTER_MS = 500;

/**
 * Runs one step of bench/worker.ts in several clients at once, one argument list each, and returns
 * their operations together and the time from the first one's start to the last one's end. The
 * clients wait for a common instant before their loops, so that their start-up is not timed and
 * their loops overlap; one that starts late lengthens the time measured, as it would in use.
 */
export async function workersTogether(step: string, argsOfEach: Array<Array<string | number>>): Promise<{ ops: number; seconds: number }> {
  const env = { BENCH_START_AT: String(Date.now() + TOGETHER_AFTER_MS) };
  const results = await Promise.all(argsOfEach.map((args) => worker(step, args, env)));
  const first = Math.min(...results.map((r) => r.startedAt));
  const last = Math.max(...results.map((r) => r.endedAt));
  return { ops: results.reduce((sum, r) => sum + r.ops, 0), seconds: (last - first) / 1000 };
}

/** Writes dirty data back, so that a timed step does not pay for the previous one's writeback. */
export async function sync(): Promise<void> {
  await check('sync', []);
}

/**
 * Writes dirty data back and empties the page, dentry and inode caches, so the
 * next step reads from the disk (or, on a FUSE mount, asks the daemon). Done
 * in a child: `sync` reaches the FUSE mounts too.
 */
export async function dropCaches(): Promise<void> {
  await check('sh', ['-c', 'sync && echo 3 > /proc/sys/vm/drop_caches']);
}

export function hasCommand(name: string): boolean {
  return (process.env.PATH ?? '').split(':').some((dir) => {
    try {
      accessSync(`${dir}/${name}`, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Mount points in this process's mount namespace. */
export function mountedPaths(): Map<string, { fstype: string; source: string; options: string }> {
  const out = new Map<string, { fstype: string; source: string; options: string }>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (!line) continue;
    const [left, right] = line.split(' - ');
    const f = left.split(' ');
    const r = right.split(' ');
    const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    out.set(unescape(f[4]), { fstype: r[0], source: unescape(r[1]), options: `${f[5]},${r[2]}` });
  }
  return out;
}

export function isMounted(path: string): boolean {
  return mountedPaths().has(resolve(path));
}

/** Starts a new peak: VmHWM becomes the current RSS (clear_refs "5"). */
export function resetPeakRss(pid: number): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // the daemon is gone; its figures will say so
  }
}

/** Peak RSS (VmHWM), current RSS split into anonymous and file-backed, in bytes, and CPU seconds (utime+stime) of a live process, or null. */
export function procStats(pid: number): { peakRss: number; rss: number; rssAnon: number; rssFile: number; cpu: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at state (field 3).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]); // utime (14) + stime (15)
    return { peakRss: kib('VmHWM'), rss: kib('VmRSS'), rssAnon: kib('RssAnon'), rssFile: kib('RssFile'), cpu: ticks / CLK_TCK };
  } catch {
    return null;
  }
}

/** Clock ticks per second for /proc/<pid>/stat; 100 on every Linux this runs on (getconf CLK_TCK). */
const CLK_TCK = 100;
