// Shared by the layer tests through a real mount: a config written to a temp
// file, `interposer ctl` as a child process, Python workloads that report
// per-call outcomes as JSON.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import type { RuleStatus } from '../../src/control/controller.ts';
import { CLI, NODE, withMount, withTempDir, writeConfig, type Daemon } from '../helpers/mount.ts';
import { run, type RunOptions } from '../helpers/run.ts';

/** `cache: direct` so every read and write reaches the daemon; timeouts 0 so every stat does too. */
export const DIRECT = 'backend: { type: memory }\nmount: { cache: direct, attrTimeout: 0, entryTimeout: 0 }\n';

/** Mounts with `yaml` as the config file (DIRECT is prepended unless the text has its own mount section). */
export function withConfig<T>(yaml: string, fn: (mnt: string, d: Daemon, configFile: string) => Promise<T>): Promise<T> {
  return withTempDir('cfg', (dir) => {
    const file = writeConfig(dir, /^mount:/m.test(yaml) ? yaml : DIRECT + yaml);
    return withMount(['--config', file], (mnt, d) => fn(mnt, d, file));
  });
}

export interface CtlResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `interposer ctl ARGS`, to completion. */
export function ctl(...args: string[]): CtlResult {
  const r = run(NODE, [CLI, 'ctl', ...args]);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `interposer ctl ARGS` that must succeed; its JSON output. */
export function ctlJson<T = unknown>(...args: string[]): T {
  const r = ctl(...args);
  if (r.status !== 0) throw new Error(`interposer ctl ${args.join(' ')} exited ${r.status}:\n${r.stdout}${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export function rules(mnt: string): RuleStatus[] {
  return ctlJson<RuleStatus[]>('rules', mnt);
}

export function ruleNamed(mnt: string, name: string): RuleStatus | undefined {
  return rules(mnt).find((r) => r.name === name);
}

/** A started `interposer ctl` (for wait), with its output collected. */
export function ctlAsync(...args: string[]): { child: ChildProcess; done: Promise<CtlResult> } {
  const child = spawn(NODE, [CLI, 'ctl', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CtlResult>((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
  return { child, done };
}

/** Python prelude: outcome(f) runs f and answers 'ok', its value, or the errno name it raised. */
const PRELUDE = `
import os, sys, json, errno, time
def outcome(f):
    try:
        return f()
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
def put(name, data):
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
`;

/** Runs Python `code` (with the prelude) in the mount and parses the JSON it prints last. */
export function pyJson<T = unknown>(mnt: string, code: string, o: RunOptions = {}): T {
  const r = run('python3', ['-c', PRELUDE + code], { cwd: mnt, ...o });
  if (r.status !== 0) throw new Error(`python failed (${r.status}):\n${r.stdout}${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as T;
}

/** Starts Python `code` in the mount; resolves `started` when it prints "started". */
export function pyAsync(
  mnt: string,
  code: string,
): { child: ChildProcess; started: Promise<void>; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> } {
  const child = spawn('python3', ['-u', '-c', PRELUDE + code], { cwd: mnt, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let onStart!: () => void;
  const started = new Promise<void>((r) => (onStart = r));
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (stdout.includes('started')) onStart();
  });
  child.stderr!.on('data', (d: Buffer) => (stdout += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout })),
  );
  return { child, started, done };
}

/** A Python workload started by pyAsync. */
export type PyProcess = ReturnType<typeof pyAsync>;

/**
 * Runs `fn` once `p` has printed 'started', then kills `p` (SIGKILL) whatever `fn` did: `p` must end
 * by that kill, before it printed 'done' (the op it waited in never finished).
 */
export async function thenKilled(p: PyProcess, fn: () => Promise<void>): Promise<void> {
  try {
    await p.started;
    await fn();
  } finally {
    p.child.kill('SIGKILL');
  }
  const end = await p.done;
  assert.equal(end.signal, 'SIGKILL');
  assert.doesNotMatch(end.stdout, /done/);
}

/** The binomial 99.9% interval of `n` trials at probability `p`: n p ± 3.29 sqrt(n p (1-p)). */
export function binomial999(n: number, p: number): [number, number] {
  const half = 3.29 * Math.sqrt(n * p * (1 - p));
  return [n * p - half, n * p + half];
}

/** The samples of `metric` on a Prometheus text endpoint, with their labels. */
export async function scrape(url: string, metric: string): Promise<Array<{ labels: Record<string, string>; value: number }>> {
  const text = await (await fetch(url)).text();
  const out: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{(.*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== metric) continue;
    const labels = Object.fromEntries([...m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}
