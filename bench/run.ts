// npm run bench [-- --quick] [--rounds N] [--only seq,smallfiles] [--targets native,bindfs,passthrough]
//
// Runs every workload on every target, interleaved round by round (native,
// tmpfs, bindfs, interposer configurations, then again), so drift over the
// run affects all of them alike. Markdown goes to stdout, progress to stderr.
// Needs root: drop_caches, mount(2), and kernel passthrough.
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { availableParallelism, cpus, release, tmpdir, totalmem } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { check, hasCommand, mountedPaths, procStats, resetPeakRss, run, worker } from './exec.ts';
import { fmt, renderMarkdown, type DaemonRound, type Results } from './report.ts';
import { renderGoals } from './goals.ts';
import { allTargets, CLI, emergencyCleanup, type BenchEnv, type Target } from './targets.ts';
import { hostDisk, imageDisk, type Disk } from './disk.ts';
import { WORKLOADS, type Sizes } from './workloads.ts';

const USAGE = `usage: node bench/run.ts [options]
  --quick            a smoke test: smaller sizes, 1 round (about 2 minutes)
  --rounds N         rounds (default 3, or 1 with --quick)
  --only LIST        workloads, comma-separated: ${WORKLOADS.map((w) => w.name).join(', ')}
  --targets LIST     targets, comma-separated (default: all but the extra ones); "all" adds the extras
  --dir DIR          where the temporary benchmark directory goes (default ${tmpdir()}); its disk is the one measured
  --host-fs          measure the host filesystem under --dir itself instead of a fresh ext4 image on it (see bench/disk.ts)
  --json FILE        also write the raw samples as JSON
  --report FILE      print the report of an earlier run from its --json FILE (goals included), and run nothing
  --cpu-latency US   hold the CPUs' wake-up latency limit (/dev/cpu_dma_latency) at US µs for the whole run, every target
                     alike, as tuned's latency-performance profile does: with 0 idle CPUs poll instead of halting
  --cpu-prof DIR     run interposer daemons under node --cpu-prof, profiles in DIR
  --cli FILE         the interposer CLI to benchmark (default src/cli/main.ts of this checkout), e.g. another worktree's, for A/B runs
  --compare-cli FILE also run every selected interposer configuration with this CLI, as NAME@B, interleaved (A/B of two checkouts)
  --keep             keep the temporary directory
  --list             list workloads and targets`;

const { values: opt } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    only: { type: 'string' },
    targets: { type: 'string' },
    dir: { type: 'string', default: tmpdir() },
    json: { type: 'string' },
    report: { type: 'string' },
    'cpu-latency': { type: 'string' },
    'host-fs': { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    keep: { type: 'boolean', default: false },
    cli: { type: 'string' },
    'compare-cli': { type: 'string' },
    list: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const CPU_DMA_LATENCY = '/dev/cpu_dma_latency';
const say = (s: string): boolean => process.stderr.write(`${s}\n`);

function fail(msg: string): never {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(2);
}

function pick<T extends { name: string }>(all: T[], list: string | undefined, what: string, dflt: (t: T) => boolean): T[] {
  if (!list) return all.filter(dflt);
  if (list === 'all') return all;
  const want = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const w of want)
    if (!all.some((t) => t.name === w)) fail(`unknown ${what} "${w}"; expected one of ${all.map((t) => t.name).join(', ')}`);
  // NAME also selects its A/B twin NAME@B.
  return all.filter((t) => want.includes(t.name) || want.includes(t.name.replace(/@B$/, '')));
}

if (opt.help) {
  say(USAGE);
  process.exit(0);
}
const targetsAll = allTargets(opt['compare-cli'] ? resolve(opt['compare-cli']) : undefined);
if (opt.list) {
  for (const w of WORKLOADS) say(`workload ${w.name}: ${w.metrics.map((m) => m.key).join(', ')}`);
  for (const t of targetsAll) say(`target ${t.name}${t.extra ? ' (extra)' : ''}`);
  process.exit(0);
}

/** The whole report: what ran where, the goals, then the tables. */
function document(header: string[], results: Results): string {
  const goals = renderGoals(results);
  return [...header, '', ...(goals ? [goals] : []), renderMarkdown(results)].join('\n');
}

if (opt.report) {
  let saved: { header?: string[]; results?: Results };
  try {
    saved = JSON.parse(readFileSync(opt.report, 'utf8')) as typeof saved;
  } catch (err) {
    fail(`--report: cannot read ${opt.report}: ${(err as Error).message}`);
  }
  const r = saved.results;
  if (!r || !Array.isArray(r.targets) || typeof r.samples !== 'object' || !Array.isArray(r.workloads))
    fail(`--report: ${opt.report} is not a file written by --json (expected {"results": {"targets", "workloads", "samples", ...}})`);
  r.daemon ??= {};
  r.errors ??= [];
  process.stdout.write(document(saved.header ?? ['## interposer benchmark', '', `- from ${opt.report}`], r));
  process.exit(0);
}

const rounds = opt.rounds ? Number(opt.rounds) : opt.quick ? 1 : 3;
if (!Number.isInteger(rounds) || rounds < 1) fail(`--rounds must be a positive integer, got ${opt.rounds}`);
const cpuLatency = opt['cpu-latency'] === undefined ? undefined : Number(opt['cpu-latency']);
if (cpuLatency !== undefined && !(Number.isInteger(cpuLatency) && cpuLatency >= 0 && cpuLatency < 2 ** 31))
  fail(`--cpu-latency must be a whole number of microseconds (0 or more), got ${opt['cpu-latency']}`);
const workloads = pick(WORKLOADS, opt.only, 'workload', () => true).filter((w) => {
  const why = w.unavailable?.();
  if (why) say(`bench: skipping ${w.name}: ${why}`);
  return !why;
});
let targets = pick(targetsAll, opt.targets, 'target', (t) => !t.extra);
if (!hasCommand('bindfs') && targets.some((t) => t.kind === 'bindfs')) {
  say('bench: bindfs is not installed (apt-get install bindfs); running without it');
  targets = targets.filter((t) => t.kind !== 'bindfs');
}
if (process.getuid?.() !== 0) fail('run as root: the benchmark drops caches and mounts with mount(2) (kernel passthrough needs it too)');

// ---- sizes -------------------------------------------------------------------------------

function tarSource(): string {
  const candidates = opt.quick ? ['/usr/include/linux', '/usr/include'] : ['/usr/include'];
  for (const c of [...candidates, resolve(import.meta.dirname, '../node_modules/typescript')]) {
    try {
      if (statSync(c).isDirectory()) return c;
    } catch {
      // try the next one
    }
  }
  return fail('no source tree to tar (/usr/include or node_modules/typescript)');
}

const sizes: Sizes = opt.quick
  ? {
      bigFile: 128 * MiB,
      randSeconds: 1,
      smallFiles: 1000,
      smallFileSize: 4096,
      dirEntries: 2000,
      tarball: '',
      tarEntries: 0,
      sqliteTx: 100,
    }
  : {
      bigFile: 1 * GiB,
      randSeconds: 3,
      smallFiles: 5000,
      smallFileSize: 4096,
      dirEntries: 10000,
      tarball: '',
      tarEntries: 0,
      sqliteTx: 300,
    };

// ---- the run -------------------------------------------------------------------------------

mkdirSync(opt.dir, { recursive: true });
const root = mkdtempSync(join(resolve(opt.dir), 'interposer-bench-'));
const env: BenchEnv = {
  root,
  data: '', // set once the disk is ready
  memoryBytes: sizes.bigFile + 1 * GiB,
  cpuProfDir: opt['cpu-prof'] ? resolve(opt['cpu-prof']) : undefined,
  cli: opt.cli ? resolve(opt.cli) : CLI,
};
if (env.cpuProfDir) mkdirSync(env.cpuProfDir, { recursive: true });
let disk: Disk | undefined;

let removed = false;
function removeRoot(): void {
  if (removed) return;
  removed = true;
  if (!opt.keep) rmSync(root, { recursive: true, force: true });
}
process.on('exit', () => {
  emergencyCleanup();
  disk?.releaseSync();
  removeRoot();
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    say(`bench: ${sig}; stopping daemons and unmounting`);
    process.exit(130);
  });
}

/** The filesystem that holds `path`, from mountinfo (longest matching mount point). */
function fsOf(path: string): { mountpoint: string; fstype: string; source: string } {
  let best = { mountpoint: '/', fstype: '?', source: '?' };
  for (const [mp, m] of mountedPaths()) {
    if ((path === mp || path.startsWith(mp === '/' ? '/' : `${mp}/`)) && mp.length >= best.mountpoint.length)
      best = { mountpoint: mp, ...m };
  }
  return best;
}

async function version(cmd: string, args: string[]): Promise<string> {
  if (!hasCommand(cmd)) return 'not installed';
  const r = await run(cmd, args);
  return (r.stdout || r.stderr).split('\n')[0].trim();
}

/** A sysfs value, or undefined where the file is missing. */
function sysfs(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * How an idle CPU waits, which sets what a wake-up across CPUs costs: in a VM whose idle vCPUs halt at
 * once, each one is an exit to the host (~25-30 µs on the machine of bench/RESULTS.md item 53), and
 * every round trip between a client and a daemon on different CPUs pays two of them.
 */
function idleCpus(): string {
  const dir = '/sys/devices/system/cpu/cpuidle';
  const driver = sysfs(`${dir}/current_driver`);
  if (driver === undefined) return 'no cpuidle driver';
  const governor = sysfs(`${dir}/current_governor_ro`) ?? sysfs(`${dir}/current_governor`) ?? '?';
  const haltPoll = sysfs('/sys/module/haltpoll/parameters/guest_halt_poll_ns');
  const polling =
    haltPoll === undefined
      ? ''
      : haltPoll === '0'
        ? '; guest halt polling off (guest_halt_poll_ns 0): an idle vCPU halts at once, so a wake-up across CPUs is an exit to the host'
        : `; guest halt polling up to ${Number(haltPoll) / 1000} µs before an idle vCPU halts`;
  return `cpuidle driver ${driver}, governor ${governor}${polling}`;
}

/** The CPU wake-up latency limit (PM QoS) in force: what tuned profiles and --cpu-latency set. */
function cpuLatencyLimit(): string {
  let fd: number | undefined;
  try {
    fd = openSync(CPU_DMA_LATENCY, 'r');
    const limit = Buffer.alloc(4);
    if (readSync(fd, limit, 0, 4, null) !== 4) return 'unknown';
    const us = limit.readInt32LE(0);
    return us >= 2_000_000_000
      ? 'none'
      : `${us} µs${cpuLatency === undefined ? '' : ' (--cpu-latency)'}${us === 0 ? ': idle CPUs poll instead of halting' : ''}`;
  } catch {
    return 'unknown';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Holds the wake-up latency limit for as long as this process lives (the kernel drops the request
 * when the file is closed). Every target runs under it alike, so that ratios stay comparable.
 */
function holdCpuLatency(us: number): void {
  try {
    const fd = openSync(CPU_DMA_LATENCY, 'w');
    const value = Buffer.alloc(4);
    value.writeInt32LE(us, 0);
    writeSync(fd, value);
  } catch (err) {
    fail(`--cpu-latency: cannot write ${CPU_DMA_LATENCY}: ${(err as Error).message}; it needs root and a kernel with PM QoS`);
  }
}

async function machine(): Promise<string[]> {
  const host = fsOf(root);
  const df = await run('df', ['-h', '--output=source,fstype,size,used,avail', root]);
  return [
    `- load average when the run started: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')} (this machine may be shared)`,
    `- CPU: ${availableParallelism()} × ${cpus()[0]?.model ?? '?'}; memory ${(totalmem() / GiB).toFixed(1)} GiB; kernel ${release()}`,
    `- idle CPUs: ${idleCpus()}; wake-up latency limit ${cpuLatencyLimit()}`,
    `- disk: ${host.source} (${host.fstype}) at ${host.mountpoint}; \`df -h\`: ${df.stdout.trim().split('\n').slice(1).join(' ').replace(/\s+/g, ' ')}`,
    `- filesystem under test (native, and beneath bindfs and interposer's passthrough): ${disk!.describe}`,
    `- Node ${process.version}; ${await version('bindfs', ['--version'])}; ${await version('fio', ['--version'])}; sqlite ${(await version('sqlite3', ['--version'])).split(' ')[0]}`,
  ];
}

async function makeTarball(): Promise<void> {
  const src = tarSource();
  sizes.tarball = join(root, 'source-tree.tar');
  await check('tar', ['-cf', sizes.tarball, '-C', dirname(src), basename(src)]);
  const list = await check('tar', ['-tf', sizes.tarball]);
  sizes.tarEntries = list.stdout.split('\n').filter(Boolean).length;
  say(`bench: tarball of ${src}: ${sizes.tarEntries} entries, ${(statSync(sizes.tarball).size / MiB).toFixed(1)} MiB`);
}

const results: Results = {
  targets: [],
  workloads: workloads.map((w) => ({ name: w.name, metrics: w.metrics })),
  samples: {},
  daemon: {},
  errors: [],
};

async function oneRound(t: Target, round: number): Promise<void> {
  const started = performance.now();
  const running = await t.start(env, round);
  const samples = (results.samples[t.name] ??= {});
  const daemon: DaemonRound = {
    peakRss: NaN,
    rssAnon: NaN,
    rssFile: NaN,
    cpu: NaN,
    workloadCpu: {},
    startRss: NaN,
    startMs: running.startMs ?? NaN,
    workloadPeakRss: {},
  };
  try {
    if (round === 1) {
      const info = results.targets.find((x) => x.name === t.name)!;
      info.mountOptions = running.mountOptions;
    }
    const at0 = running.pid ? procStats(running.pid) : null;
    const cpu0 = at0?.cpu ?? NaN;
    daemon.startRss = at0?.rss ?? NaN;
    let peak = at0?.peakRss ?? NaN;
    for (const w of workloads) {
      if (running.pid) resetPeakRss(running.pid);
      const c0 = running.pid ? (procStats(running.pid)?.cpu ?? NaN) : NaN;
      const w0 = performance.now();
      let values: Record<string, number> = {};
      try {
        values = await w.run(running.dir, sizes);
      } catch (err) {
        const msg = `round ${round}, ${t.name}, ${w.name}: ${(err as Error).message}`;
        results.errors.push(msg);
        say(`bench: ${msg}`);
      }
      for (const m of w.metrics) (samples[m.key] ??= []).push(values[m.key] ?? NaN);
      if (running.pid) {
        const after = procStats(running.pid);
        daemon.workloadCpu[w.name] = (after?.cpu ?? NaN) - c0;
        daemon.workloadPeakRss[w.name] = after?.peakRss ?? NaN;
        peak = Math.max(peak, after?.peakRss ?? NaN);
      }
      let shown = w.metrics.map((m) => `${m.key}=${fmt(values[m.key] ?? NaN)}`).join(' ');
      if (running.pid) shown += `  (daemon CPU ${fmt(daemon.workloadCpu[w.name])} s)`;
      say(`  ${t.name.padEnd(19)} ${w.name.padEnd(10)} ${((performance.now() - w0) / 1000).toFixed(1).padStart(5)} s  ${shown}`);
    }
    await run('sh', ['-c', 'rm -rf "$1"/bench*', 'sh', running.dir]);
    if (running.pid) {
      const s = procStats(running.pid);
      daemon.peakRss = Math.max(peak, s?.peakRss ?? NaN);
      daemon.rssAnon = s?.rssAnon ?? NaN;
      daemon.rssFile = s?.rssFile ?? NaN;
      daemon.cpu = (s?.cpu ?? NaN) - cpu0;
    }
  } finally {
    await running.stop();
    // Anything a failed workload left behind in the native directory.
    for (const name of readdirSync(env.data)) rmSync(join(env.data, name), { recursive: true, force: true });
  }
  if (running.pid) (results.daemon[t.name] ??= []).push(daemon);
  say(`  ${t.name.padEnd(19)} round ${round} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

async function main(): Promise<void> {
  const t0 = performance.now();
  if (cpuLatency !== undefined) holdCpuLatency(cpuLatency);
  if (fsOf(root).fstype === 'tmpfs') say(`bench: warning: ${root} is on tmpfs; pass --dir on a disk to measure one`);
  disk = opt['host-fs'] ? await hostDisk(root) : await imageDisk(root, Math.max(4 * GiB, 2 * sizes.bigFile + 2 * GiB));
  env.data = join(disk.dir, 'data');
  mkdirSync(env.data);
  const header = await machine();
  const busy0 = cpuBusy();
  if (workloads.some((w) => w.name === 'untar')) await makeTarball();
  // The first pass over fresh memory is slower on a VM (pages the host has not
  // backed yet); pay it once here rather than in round 1's first target.
  say('bench: warm-up (one untimed large write on the native directory)');
  await worker('seqwrite', [join(env.data, 'warmup'), sizes.bigFile]);
  await check('rm', ['-f', join(env.data, 'warmup')]);
  // The first start of a configuration after a source change strips the TypeScript (the stripper
  // alone is ~12 MiB) and fills the compile cache that later starts use, as bin/interposer's do.
  // Pay it here, so that the peak RSS of round 1 (or of a round after an edit) does not include it.
  say('bench: warm-up (each interposer configuration mounted and unmounted once)');
  for (const t of targets) if (t.kind === 'interposer') await (await t.start(env, 0)).stop();
  results.targets = targets.map((t) => ({
    name: t.name,
    kind: t.kind,
    baseline: t.baseline,
    variantOf: t.variantOf,
    holdsData: t.holdsData,
    describe: t.describe(env),
  }));
  say(`bench: ${rounds} round(s) of ${workloads.map((w) => w.name).join(', ')} on ${targets.map((t) => t.name).join(', ')} in ${root}`);
  for (let round = 1; round <= rounds; round++) {
    say(`round ${round}/${rounds}`);
    for (const t of targets) {
      try {
        await oneRound(t, round);
      } catch (err) {
        const msg = `round ${round}, ${t.name}: ${(err as Error).message}`;
        results.errors.push(msg);
        say(`bench: ${msg}`);
      }
    }
  }
  const minutes = (performance.now() - t0) / 60000;
  const busy = (cpuBusy() - busy0) / ((performance.now() - t0) / 1000);
  header.push(
    `- CPU busy on the whole machine during the run: ${busy.toFixed(2)} of ${availableParallelism()} cores on average (the benchmark included)`,
  );
  const argv = process.argv.slice(2).join(' ');
  const lines = [
    `## interposer benchmark`,
    '',
    ...header,
    `- command: \`npm run bench${argv ? ` -- ${argv}` : ''}\` (${rounds} round(s), ${minutes.toFixed(1)} min)`,
    `- sizes: large file ${fmt(sizes.bigFile / MiB)} MiB; ${sizes.smallFiles} small files of ${sizes.smallFileSize} B; directory of ${sizes.dirEntries} entries; ` +
      `tarball ${sizes.tarEntries} entries; ${sizes.sqliteTx} sqlite transactions; random I/O ${sizes.randSeconds} s per run`,
  ];
  process.stdout.write(document(lines, results));
  if (opt.json) writeFileSync(opt.json, `${JSON.stringify({ header: lines, sizes, rounds, results }, null, 1)}\n`);
  say(`bench: done in ${minutes.toFixed(1)} min`);
}

/** Busy CPU seconds of the whole machine so far (all but idle and iowait). */
function cpuBusy(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return (total - f[3] - f[4]) / 100;
}

try {
  await main();
} finally {
  emergencyCleanup();
  await disk?.release();
  disk = undefined;
  removeRoot();
}
