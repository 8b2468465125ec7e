// What the workloads run on: a native directory, native tmpfs, bindfs over the
// native directory, and interposer in several configurations. Each start()
// mounts (if needed) and returns a Running whose stop() unmounts and waits for
// the daemon to exit; emergencyCleanup() undoes everything synchronously from
// a process 'exit' handler, so no mount or daemon outlives the benchmark.
import { DAEMON_ENV, daemonNodeFlags } from '../src/cli/daemon-process.ts';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { ENABLE_URING } from '../src/fuse/ring.ts';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { check, isMounted, killChildren, mountedPaths, NODE, ROOT, run } from './exec.ts';

/**
 * Interposer configurations, one line each. `backend` is passthrough over the
 * native directory unless it says memory; `flags` go on the mount command
 * line; `config` is written to a JSON file and passed with --config. Entries
 * marked `extra` run only when named with --targets (or with --targets all):
 * the default run is the performance issue's configurations (passthrough,
 * metrics, metrics with a trace layer that matches nothing, an empty fault
 * rule set, the memory backend) beside native, tmpfs and bindfs.
 */
const NOKP = ['--kernel-passthrough', 'off'];

/** A metrics layer (`data: observe` unless given) and its Prometheus endpoint, on a port of the configuration's own. */
function withMetrics(port: number, layer: object = {}): object {
  return { layers: [{ metrics: layer }], telemetry: { metrics: `127.0.0.1:${port}` } };
}

export const INTERPOSER_CONFIGS: InterposerConfig[] = [
  { name: 'passthrough', note: 'defaults: cache auto, kernel passthrough auto, attr/entry timeout 1s, busy-poll auto' },
  {
    name: 'passthrough-direct',
    extra: true,
    flags: ['--cache', 'direct'],
    note: '--cache direct: every read and write through the daemon',
  },
  {
    name: 'passthrough-nokp',
    extra: true,
    flags: NOKP,
    note: '--kernel-passthrough off: page cache on, data through the daemon',
  },
  { name: 'memory', backend: 'memory', baseline: 'tmpfs', note: 'memory backend (compare with tmpfs)' },
  {
    name: 'passthrough-uring',
    extra: true,
    ioUring: true,
    flags: ['--io-uring', 'on'],
    note: '--io-uring on: requests through FUSE over io_uring instead of read/write on /dev/fuse',
  },
  {
    name: 'direct-uring',
    extra: true,
    ioUring: true,
    flags: ['--cache', 'direct', '--io-uring', 'on'],
    note: '--cache direct --io-uring on: every read and write through the daemon, over io_uring',
  },
  {
    name: 'no-busy-poll',
    extra: true,
    variantOf: 'passthrough',
    flags: ['--busy-poll', '0'],
    note: '--busy-poll 0: the loop sleeps as soon as the queue is empty (the default, auto, polls up to 200 µs first with two CPUs or more)',
  },
  {
    name: 'no-prefetch',
    extra: true,
    variantOf: 'passthrough',
    flags: ['--prefetch', '0'],
    note: '--prefetch 0: an open for reading does not start reading the file (the default reads files up to 128 KiB ahead)',
  },
  {
    name: 'nokp-no-busy-poll',
    extra: true,
    variantOf: 'passthrough-nokp',
    flags: [...NOKP, '--busy-poll', '0'],
    note: '--kernel-passthrough off --busy-poll 0: data through the daemon, no busy-polling',
  },
  {
    name: 'metrics-no-busy-poll',
    extra: true,
    variantOf: 'metrics',
    flags: ['--busy-poll', '0'],
    config: withMetrics(19468),
    note: 'metrics with --busy-poll 0',
  },
  {
    name: 'no-optimize-for-size',
    extra: true,
    variantOf: 'passthrough',
    nodeFlags: ['--no-optimize-for-size'],
    note: "node --no-optimize-for-size: V8's default heap growth (daemons run with --optimize-for-size)",
  },
  {
    name: 'maglev-only',
    extra: true,
    variantOf: 'passthrough',
    nodeFlags: ['--max-opt=2'],
    note: "node --max-opt=2: V8's Maglev as the top tier, no Turbofan compiles on the helper thread",
  },
  {
    name: 'metrics-maglev-only',
    extra: true,
    variantOf: 'metrics',
    config: withMetrics(19470),
    nodeFlags: ['--max-opt=2'],
    note: 'metrics with node --max-opt=2',
  },
  {
    name: 'metrics-no-optimize-for-size',
    extra: true,
    variantOf: 'metrics',
    config: withMetrics(19469),
    nodeFlags: ['--no-optimize-for-size'],
    note: 'metrics with node --no-optimize-for-size',
  },
  {
    name: 'timeouts-0',
    extra: true,
    variantOf: 'passthrough',
    flags: ['--attr-timeout', '0', '--entry-timeout', '0'],
    note: '--attr-timeout 0 --entry-timeout 0: the kernel caches no names or attributes',
  },
  {
    name: 'nokp-writeback',
    extra: true,
    variantOf: 'passthrough-nokp',
    flags: NOKP,
    config: { mount: { writebackCache: true } },
    note: '--kernel-passthrough off with mount.writebackCache: the kernel buffers writes and sends them later',
  },
  {
    name: 'nokp-128k',
    extra: true,
    variantOf: 'passthrough-nokp',
    flags: [...NOKP, '--max-write', '128KiB'],
    note: '--kernel-passthrough off --max-write 128KiB (the default is 1MiB)',
  },
  {
    name: 'metrics',
    variantOf: 'passthrough',
    config: withMetrics(19464),
    note: 'a metrics layer (data: observe, so no kernel passthrough), Prometheus endpoint on',
  },
  {
    name: 'metrics-kernel',
    extra: true,
    variantOf: 'passthrough',
    config: withMetrics(19465, { data: 'kernel' }),
    note: 'a metrics layer with data: kernel: kernel passthrough kept, reads and writes of passed-through files not counted',
  },
  {
    name: 'nokp-metrics',
    extra: true,
    variantOf: 'passthrough-nokp',
    flags: NOKP,
    config: withMetrics(19466),
    note: '--kernel-passthrough off and a metrics layer (data: observe): what counting costs when the data goes through the daemon anyway',
  },
  {
    name: 'trace-none',
    extra: true,
    variantOf: 'passthrough',
    config: { layers: [{ trace: { paths: ['/no/such/path/**'] } }], telemetry: { traces: { file: '/dev/null' } } },
    note: 'a trace layer whose filter matches nothing',
  },
  {
    name: 'metrics-trace-none',
    variantOf: 'metrics',
    config: {
      layers: [{ metrics: {} }, { trace: { paths: ['/no/such/path/**'] } }],
      telemetry: { metrics: '127.0.0.1:19467', traces: { file: '/dev/null' } },
    },
    note: 'metrics and a trace layer whose filter matches nothing',
  },
  {
    name: 'trace-all',
    extra: true,
    variantOf: 'passthrough',
    config: { layers: [{ trace: {} }], telemetry: { traces: { file: '/dev/null' } } },
    note: 'a trace layer recording every op (spans made and written as JSON lines to /dev/null: what tracing costs the daemon, without the disk writes a file adds off its request thread)',
  },
  {
    name: 'fault-empty',
    variantOf: 'passthrough',
    config: { layers: [{ fault: { rules: [] } }] },
    note: 'a fault layer with no rules',
  },
];

export interface InterposerConfig {
  name: string;
  /** 'passthrough' (over the native directory, the default) or 'memory'. */
  backend?: 'passthrough' | 'memory';
  flags?: string[];
  config?: object;
  /** Extra flags for node itself, e.g. ['--max-semi-space-size=1']. */
  nodeFlags?: string[];
  /** The target ratios "vs native" are taken against (default native). */
  baseline?: 'native' | 'tmpfs';
  /** The configuration this one changes one thing of (adds a layer, sets an option): the report gives this one's medians over that one's. */
  variantOf?: string;
  extra?: boolean;
  /** Mount with FUSE over io_uring: the fuse module's enable_uring is switched on for the mount (and off for the others). */
  ioUring?: boolean;
  note: string;
}

export interface BenchEnv {
  /** The benchmark's temporary directory, on the disk under test. */
  root: string;
  /** The native directory; also what bindfs and interposer's passthrough mirror. */
  data: string;
  /** Size of the memory backend and of the tmpfs. */
  memoryBytes: number;
  /** Where daemons write --cpu-prof profiles, if profiling. */
  cpuProfDir?: string;
  /** The interposer CLI to run (src/cli/main.ts of this checkout unless --cli). */
  cli: string;
}

export interface Running {
  /** The directory the workloads use. */
  dir: string;
  /** The process serving the mount (bindfs or the interposer daemon), if any. */
  pid?: number;
  /** Mount options as /proc/self/mountinfo shows them. */
  mountOptions?: string;
  /** Milliseconds from starting the process serving the mount to the mount being usable. */
  startMs?: number;
  stop(): Promise<void>;
}

export interface Target {
  name: string;
  kind: 'native' | 'tmpfs' | 'bindfs' | 'interposer';
  baseline?: 'native' | 'tmpfs';
  /** The target this one changes one thing of (InterposerConfig.variantOf). */
  variantOf?: string;
  /** The backend keeps the files' contents in the daemon (memory). */
  holdsData?: boolean;
  extra?: boolean;
  /** How it is started, for the report. */
  describe(env: BenchEnv): string;
  start(env: BenchEnv, round: number): Promise<Running>;
}

// ---- cleanup of everything started here -------------------------------------------------

interface Live {
  mountpoint?: string;
  child?: ChildProcess;
}
const live = new Set<Live>();

/** Synchronous, for 'exit' and signal handlers: kill what we started and detach what we mounted. */
export function emergencyCleanup(): void {
  killChildren();
  for (const l of live) {
    if (l.child && l.child.exitCode === null && l.child.signalCode === null) l.child.kill('SIGKILL');
    if (l.mountpoint && isMounted(l.mountpoint)) spawnSync('umount', ['-l', l.mountpoint], { stdio: 'ignore' });
  }
  live.clear();
}

async function waitFor(cond: () => boolean, ms: number, what: string, everyMs = 20): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

/** Stops a daemon: `how` asks it to unmount and exit; SIGKILL and a lazy unmount if it does not. */
async function stopDaemon(l: Live, how: () => Promise<void>): Promise<void> {
  try {
    await how();
    const done = await Promise.race([exited(l.child!).then(() => true), sleep(15000).then(() => false)]);
    if (!done) {
      process.stderr.write(`bench: ${l.mountpoint}: daemon did not exit within 15 s; killing it\n`);
      l.child!.kill('SIGKILL');
      await exited(l.child!);
    }
  } finally {
    if (l.mountpoint && isMounted(l.mountpoint)) await run('umount', ['-l', l.mountpoint]);
    live.delete(l);
  }
}

/** Keeps the last `max` characters a child wrote, and tells when `pattern` first appears. */
function tail(stream: NodeJS.ReadableStream, max = 65536): { text(): string; seen(p: RegExp): boolean } {
  let text = '';
  stream.on('data', (d: Buffer) => {
    text += d.toString();
    if (text.length > 2 * max) text = text.slice(-max);
  });
  return { text: () => text.slice(-max), seen: (p) => p.test(text) };
}

// ---- the targets --------------------------------------------------------------------------

export const native: Target = {
  name: 'native',
  kind: 'native',
  describe: (env) => `the directory itself (${env.data})`,
  start: async (env) => ({ dir: env.data, stop: async () => {} }),
};

export const tmpfs: Target = {
  name: 'tmpfs',
  kind: 'tmpfs',
  describe: (env) => `a tmpfs mounted for the run (size=${env.memoryBytes})`,
  async start(env) {
    const mnt = join(env.root, 'mnt', 'tmpfs');
    mkdirSync(mnt, { recursive: true });
    const l: Live = { mountpoint: mnt };
    live.add(l);
    await check('mount', ['-t', 'tmpfs', '-o', `size=${env.memoryBytes}`, 'bench-tmpfs', mnt]);
    return {
      dir: mnt,
      mountOptions: mountedPaths().get(mnt)?.options,
      stop: async () => {
        try {
          await check('umount', [mnt]);
        } finally {
          if (isMounted(mnt)) await run('umount', ['-l', mnt]);
          live.delete(l);
        }
      },
    };
  },
};

/**
 * Tracks a daemon just spawned on `mnt` and waits until `ready` (or its exit); a daemon that exits or
 * times out without mounting is stopped and its stderr thrown. `startMs` is the time from the call,
 * made right after the spawn, to the mount being ready (looked for every 2 ms).
 */
async function mounted(
  child: ChildProcess,
  mnt: string,
  what: string,
  timeoutMs: number,
  ready: (err: ReturnType<typeof tail>) => boolean,
): Promise<{ l: Live; err: ReturnType<typeof tail>; startMs: number }> {
  const t0 = performance.now();
  const l: Live = { mountpoint: mnt, child };
  live.add(l);
  const err = tail(child.stderr!);
  child.stdout!.resume();
  try {
    await waitFor(() => ready(err) || child.exitCode !== null, timeoutMs, `${what} on ${mnt}`, 2);
    if (!isMounted(mnt)) throw new Error(`${what} exited (${child.exitCode}) without mounting:\n${err.text()}`);
  } catch (e) {
    await stopDaemon(l, async () => void child.kill('SIGTERM'));
    throw e;
  }
  return { l, err, startMs: performance.now() - t0 };
}

export const bindfs: Target = {
  name: 'bindfs',
  kind: 'bindfs',
  describe: (env) =>
    `bindfs -f ${env.data} MNT (defaults: single-threaded, libfuse attr/entry timeout 1s, allow_other as root, O_DIRECT cleared)`,
  async start(env) {
    const mnt = join(env.root, 'mnt', 'bindfs');
    mkdirSync(mnt, { recursive: true });
    const child = spawn('bindfs', ['-f', env.data, mnt], { stdio: ['ignore', 'pipe', 'pipe'] });
    const { l, startMs } = await mounted(child, mnt, 'bindfs', 10000, () => isMounted(mnt));
    return {
      dir: mnt,
      pid: child.pid,
      mountOptions: mountedPaths().get(mnt)?.options,
      startMs,
      stop: () =>
        stopDaemon(l, async () => {
          const r = await run('fusermount3', ['-u', mnt]);
          if (r.code !== 0) child.kill('SIGTERM');
        }),
    };
  },
};

export const CLI = join(ROOT, 'src/cli/main.ts');

/** A target for configuration `c`; `cli` overrides env.cli (for A/B runs of two checkouts). */
export function interposer(c: InterposerConfig, cli?: string): Target {
  const args = (env: BenchEnv, mnt: string, configFile?: string): string[] => [
    cli ?? env.cli,
    'mount',
    '--backend',
    c.backend === 'memory' ? `memory:${env.memoryBytes}` : `passthrough:${env.data}`,
    ...(configFile ? ['--config', configFile] : []),
    ...(c.flags ?? []),
    mnt,
  ];
  return {
    name: c.name,
    kind: 'interposer',
    baseline: c.baseline,
    variantOf: c.variantOf,
    holdsData: c.backend === 'memory',
    extra: c.extra,
    describe: (env) =>
      `${c.nodeFlags ? `node ${c.nodeFlags.join(' ')} ` : ''}interposer ${args(env, 'MNT', c.config ? `${c.name}.json` : undefined)
        .slice(2)
        .join(' ')}${c.config ? ` with ${c.name}.json = ${JSON.stringify(c.config)}` : ''} — ${c.note}`,
    async start(env, round) {
      const mnt = join(env.root, 'mnt', c.name);
      mkdirSync(mnt, { recursive: true });
      let configFile: string | undefined;
      if (c.config) {
        configFile = join(env.root, `${c.name}.json`);
        writeFileSync(configFile, JSON.stringify(c.config));
      }
      const prof = env.cpuProfDir
        ? ['--cpu-prof', `--cpu-prof-dir=${env.cpuProfDir}`, `--cpu-prof-name=${c.name}.round${round}.cpuprofile`]
        : [];
      // As bin/interposer runs it: with the compile cache beside the CLI's sources, so the type stripper is never loaded.
      const cache = join(dirname(cli ?? env.cli), '../../.cache/node');
      const child = spawn(NODE, [...daemonNodeFlags(), ...(c.nodeFlags ?? []), ...prof, ...args(env, mnt, configFile)], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...DAEMON_ENV, NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE ?? cache },
      });
      const { l, err, startMs } = await withUringParam(c.ioUring === true, () =>
        mounted(child, mnt, 'interposer', 30000, (out) => out.seen(/"msg":"mounted/)),
      );
      return {
        dir: mnt,
        pid: child.pid,
        mountOptions: mountedPaths().get(mnt)?.options,
        startMs,
        stop: async () => {
          await stopDaemon(l, async () => void child.kill('SIGTERM'));
          if (child.exitCode !== 0)
            process.stderr.write(
              `bench: ${c.name} daemon exited with ${child.exitCode ?? child.signalCode}:\n${err.text().slice(-2000)}\n`,
            );
        },
      };
    },
  };
}

/**
 * Runs `mount` with the fuse module's enable_uring set to `on`, then puts the
 * machine's setting back: the kernel only reads it at INIT, so every other
 * configuration keeps meaning /dev/fuse even where the machine has it on.
 */
async function withUringParam<T>(on: boolean, mount: () => Promise<T>): Promise<T> {
  let before: string;
  try {
    before = readFileSync(ENABLE_URING, 'utf8').trim();
  } catch {
    if (on) throw new Error(`${ENABLE_URING} is missing: this kernel has no FUSE over io_uring (Linux 6.14+, CONFIG_FUSE_IO_URING)`);
    return mount();
  }
  const want = on ? 'Y' : 'N';
  if (before === want) return mount();
  writeFileSync(ENABLE_URING, want);
  try {
    return await mount();
  } finally {
    writeFileSync(ENABLE_URING, before);
  }
}

/** Every target in the order each round visits them; with `compareCli`, each configuration also runs on that CLI as NAME@B. */
export function allTargets(compareCli?: string): Target[] {
  const ours = INTERPOSER_CONFIGS.flatMap((c) =>
    compareCli
      ? [interposer(c), interposer({ ...c, name: `${c.name}@B`, variantOf: c.variantOf && `${c.variantOf}@B` }, compareCli)]
      : [interposer(c)],
  );
  return [native, tmpfs, bindfs, ...ours];
}
