// Per-volume FUSE daemons. The plugin mounts, then hands the /dev/fuse fd to
// `interposer serve --fd 3` started in its own session and process group, so a
// plugin that restarts or crashes leaves every mount serving. A daemon is known
// by pid plus its start time in /proc (a recycled pid has another start time).
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DaemonRef } from './state.ts';

export const CLI = resolve(import.meta.dirname, '../cli/main.ts');
const READY_TIMEOUT_MS = 15_000;

export interface LaunchOptions {
  /** The mounted /dev/fuse fd; the caller closes its copy afterwards. */
  fd: number;
  mountpoint: string;
  /** A configuration document (as a --config file would hold it), validated again by the daemon. */
  configDoc: unknown;
  logFile: string;
}

/** Starts the daemon and waits until it says it is serving; throws with its log tail if it exits first. */
export async function launchDaemon(o: LaunchOptions): Promise<DaemonRef> {
  const out = openSync(o.logFile, 'a', 0o600);
  const args = [CLI, 'serve', '--fd', '3', '--config-json', JSON.stringify(o.configDoc), o.mountpoint];
  let child;
  try {
    child = spawn(process.execPath, args, {
      detached: true, // own session and process group: signals to the plugin's group miss it
      stdio: ['ignore', out, out, o.fd, 'ipc'],
      env: { ...process.env, INTERPOSER_LOG: process.env.INTERPOSER_DAEMON_LOG ?? 'info' },
    });
  } finally {
    closeSync(out);
  }
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
    throw new Error(`volume daemon ${outcome}: ${logTail(o.logFile)}`);
  }
  child.disconnect();
  child.unref();
  const startTime = processStartTime(pid);
  if (startTime === null) throw new Error(`volume daemon ${pid} vanished right after starting: ${logTail(o.logFile)}`);
  return { pid, startTime, logFile: o.logFile };
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

/** Waits for the daemon to end by itself (its mount is gone), then SIGTERM, then SIGKILL. */
export async function stopDaemon(d: DaemonRef, graceMs = 2000): Promise<void> {
  if (await exitsWithin(d, graceMs)) return;
  signal(d, 'SIGTERM');
  if (await exitsWithin(d, 5000)) return;
  signal(d, 'SIGKILL');
  await exitsWithin(d, 2000);
}

export function signal(d: DaemonRef, sig: NodeJS.Signals): void {
  if (!isAlive(d)) return; // never signal a pid that now belongs to someone else
  try {
    process.kill(d.pid, sig);
  } catch {
    // exited in between
  }
}

async function exitsWithin(d: DaemonRef, ms: number): Promise<boolean> {
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
    const text = readFileSync(file, 'utf8').trim();
    return text ? text.split('\n').slice(-lines).join('\n') : '(its log is empty)';
  } catch {
    return '(no log)';
  }
}
