// Starting one per-volume FUSE daemon: `interposer serve --fd 3` in its own
// session and process group, handed the mounted /dev/fuse fd, and waited for
// until it says it is serving. Whoever calls this owns the child: the plugin
// itself when no mounter is configured (direct mode), else the mounter
// (mounter.ts). A daemon is known by pid plus its start time in /proc (a
// recycled pid has another start time).
import { DAEMON_ENV, daemonNodeFlags } from '../cli/daemon-process.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { fstatSync, readFileSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/schema.ts';
import { layersAsWritten, type LoadedConfig } from '../config/load.ts';
import type { DaemonRef } from './state.ts';

export const CLI = resolve(import.meta.dirname, '../cli/main.ts');
export const READY_TIMEOUT_MS = 15_000;

export interface LaunchOptions {
  /** The mounted /dev/fuse fd; the caller closes its copy afterwards. */
  fd: number;
  /** Where the daemon's stdout and stderr go (opened for reading too, for the tail in errors); the caller closes it. */
  logFd: number;
  mountpoint: string;
  /** A configuration document (as a --config file would hold it): the layers as written, for the control API. */
  configDoc: unknown;
  /**
   * That document as the caller validated it (validateConfig): the daemon takes it as is and loads
   * the schema only if a control request brings a new config. Without it the daemon validates the
   * document itself.
   */
  config?: Config;
  /**
   * Keep the IPC channel open and have the daemon exit when it closes, i.e.
   * when the launching process dies (the mounter). Without it the channel is
   * closed once the daemon serves, and the daemon outlives its launcher.
   */
  exitWithParent: boolean;
}

export interface Launched {
  child: ChildProcess;
  pid: number;
  /** Field 22 of /proc/PID/stat. */
  startTime: string;
}

/** Starts the daemon and waits until it says it is serving; throws with its log tail if it exits first. */
export async function spawnDaemon(o: LaunchOptions): Promise<Launched> {
  const args = [
    CLI,
    'serve',
    '--fd',
    '3',
    ...(o.config
      ? ['--validated-json', JSON.stringify({ config: o.config, rawLayers: layersAsWritten(o.configDoc) } satisfies LoadedConfig)]
      : ['--config-json', JSON.stringify(o.configDoc)]),
    ...(o.exitWithParent ? ['--exit-with-parent'] : []),
  ];
  const child = spawn(process.execPath, [...daemonNodeFlags(), ...args, o.mountpoint], {
    detached: true, // own session and process group: signals to the launcher's group miss it
    stdio: ['ignore', o.logFd, o.logFd, o.fd, 'ipc'],
    env: { ...process.env, ...DAEMON_ENV, INTERPOSER_LOG: process.env.INTERPOSER_DAEMON_LOG ?? 'info' },
  });
  const pid = child.pid;
  const outcome = await new Promise<'ready' | string>((done) => {
    const timer = setTimeout(() => done(`did not report serving within ${READY_TIMEOUT_MS / 1000}s`), READY_TIMEOUT_MS);
    child.once('message', (m) => {
      if (m === 'serving') {
        clearTimeout(timer);
        done('ready');
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      done(`exited (${signal ?? `status ${code}`}) before serving`);
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      done(`could not start: ${err.message}`);
    });
  });
  if (outcome !== 'ready' || pid === undefined) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw new Error(`volume daemon ${outcome}: ${logTailOf(o.logFd)}`);
  }
  if (!o.exitWithParent) {
    child.disconnect();
    child.unref();
  }
  const startTime = processStartTime(pid);
  if (startTime === null) throw new Error(`volume daemon ${pid} vanished right after starting: ${logTailOf(o.logFd)}`);
  return { child, pid, startTime };
}

/** Field 22 of /proc/PID/stat, or null if there is no such (non-zombie) process. */
export function processStartTime(pid: number): string | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm (field 2) may hold spaces and parentheses: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return null;
  return fields[19] ?? null; // fields[0] is field 3 (state), so field 22 is fields[19]
}

export function isAlive(d: Pick<DaemonRef, 'pid' | 'startTime'>): boolean {
  return processStartTime(d.pid) === d.startTime;
}

/** Waits for a daemon this process does not own to end by itself (its mount is gone), then SIGTERM, then SIGKILL. */
export async function stopDaemon(d: Pick<DaemonRef, 'pid' | 'startTime'>, graceMs = 2000): Promise<void> {
  if (await exitsWithin(d, graceMs)) return;
  signal(d, 'SIGTERM');
  if (await exitsWithin(d, 5000)) return;
  signal(d, 'SIGKILL');
  await exitsWithin(d, 2000);
}

export function signal(d: Pick<DaemonRef, 'pid' | 'startTime'>, sig: NodeJS.Signals): void {
  if (!isAlive(d)) return; // never signal a pid that now belongs to someone else
  try {
    process.kill(d.pid, sig);
  } catch {
    // exited in between
  }
}

async function exitsWithin(d: Pick<DaemonRef, 'pid' | 'startTime'>, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (isAlive(d)) {
    if (Date.now() > until) return false;
    await sleep(25);
  }
  return true;
}

/** The last lines of a daemon log, for error messages and the plugin's log. */
export function logTail(file: string, lines = 5): string {
  try {
    return tailLines(readFileSync(file, 'utf8'), lines);
  } catch {
    return '(no log)';
  }
}

/** The last lines of the log open on `fd` (read from the end, whatever the fd's offset). */
export function logTailOf(fd: number, lines = 5): string {
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(Math.min(size, 8192));
    const n = readSync(fd, buf, 0, buf.length, size - buf.length);
    return tailLines(buf.subarray(0, n).toString('utf8'), lines);
  } catch {
    return '(no log)';
  }
}

function tailLines(text: string, lines: number): string {
  const t = text.trim();
  return t ? t.split('\n').slice(-lines).join('\n') : '(its log is empty)';
}
