// How faithfully the disturbing layers do what they are told (issue 3's
// figures): throttle accuracy at 1, 10 and 100 MiB/s, latency accuracy for a
// fixed 1 ms and 10 ms and a lognormal(median 2 ms, p99 20 ms), and what an
// empty fault rule set costs. Run: node bench/accuracy.ts [--quick]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { startDaemon, stopDaemon } from '../test/helpers/mount.ts';

const quick = process.argv.includes('--quick');
const work = mkdtempSync(join(tmpdir(), 'interposer-accuracy-'));

/** Runs a Python client in its own process and returns what it prints as JSON. */
function client(code: string, cwd: string): Record<string, number> {
  const r = spawnSync('python3', ['-c', code], { cwd, encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`client failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, number>;
}

async function withConfig<T>(name: string, yaml: string, fn: (mnt: string) => Promise<T> | T): Promise<T> {
  const cfg = join(work, `${name}.yaml`);
  writeFileSync(cfg, yaml);
  const mnt = mkdtempSync(join(work, 'mnt-'));
  const d = await startDaemon(['--config', cfg], mnt);
  try {
    return await fn(mnt);
  } finally {
    await stopDaemon(d);
    rmSync(mnt, { recursive: true, force: true });
  }
}

const SEQ_READ = (bytes: number) => `
import os, time, json
with open('f', 'wb') as f: f.write(os.urandom(1 << 20) * ${Math.ceil(bytes / (1 << 20))})
fd = os.open('f', os.O_RDONLY)
t = time.monotonic(); n = 0
while True:
    b = os.read(fd, 1 << 20)
    if not b: break
    n += len(b)
print(json.dumps({"bytes": n, "seconds": time.monotonic() - t}))`;

async function throttle(rateMiB: number): Promise<string[]> {
  const seconds = quick ? 2 : 5;
  // The burst (a tenth of a second's worth, at least 1 MiB) passes at once: measure over many seconds.
  const bytes = rateMiB * (1 << 20) * seconds;
  const got = await withConfig(
    `throttle-${rateMiB}`,
    `backend: { type: memory, size: ${Math.ceil((bytes * 2) / (1 << 20)) + 64}MiB }\nmount: { cache: direct }\nlayers:\n  - throttle: { read: ${rateMiB}MiB/s }\n`,
    (mnt) => client(SEQ_READ(bytes), mnt),
  );
  const measured = got.bytes / got.seconds / (1 << 20);
  return [`throttle read ${rateMiB} MiB/s`, measured.toFixed(2), `${(((measured - rateMiB) / rateMiB) * 100).toFixed(1)}%`];
}

const LAT_CLIENT = (n: number) => `
import os, time, json
with open('f', 'wb') as f: f.write(b'x' * 4096)
fd = os.open('f', os.O_RDONLY)
lat = []
for i in range(${n}):
    t = time.perf_counter(); os.pread(fd, 4096, 0); lat.append((time.perf_counter() - t) * 1000)
lat.sort()
print(json.dumps({"p50": lat[len(lat)//2], "p99": lat[int(len(lat)*0.99)], "mean": sum(lat)/len(lat)}))`;

async function latency(): Promise<string[][]> {
  const n = quick ? 300 : 2000;
  const base = await withConfig('lat-base', 'backend: { type: memory }\nmount: { cache: direct }\n', (m) => client(LAT_CLIENT(n), m));
  const rows: string[][] = [[`baseline read (no rule)`, `p50 ${base.p50.toFixed(3)} ms`, `p99 ${base.p99.toFixed(3)} ms`]];
  const cases: Array<[string, string, number, number | undefined]> = [
    ['fixed 1ms', 'delay: 1ms', 1, undefined],
    ['fixed 10ms', 'delay: 10ms', 10, undefined],
    ['lognormal median 2ms p99 20ms', 'distribution: { lognormal: { median: 2ms, p99: 20ms } }', 2, 20],
  ];
  for (const [label, rule, p50, p99] of cases) {
    const got = await withConfig(
      `lat-${p50}`,
      `backend: { type: memory }\nmount: { cache: direct }\nlayers:\n  - latency: { seed: 7, rules: [ { ops: [read], ${rule} } ] }\n`,
      (m) => client(LAT_CLIENT(n), m),
    );
    // What the layer added: measured minus the baseline at the same percentile.
    const d50 = got.p50 - base.p50;
    const row = [label, `p50 +${d50.toFixed(3)} ms (${(((d50 - p50) / p50) * 100).toFixed(1)}%)`];
    if (p99 !== undefined) {
      const d99 = got.p99 - base.p99;
      row.push(`p99 +${d99.toFixed(3)} ms (${(((d99 - p99) / p99) * 100).toFixed(1)}%)`);
    } else row.push(`p99 +${(got.p99 - base.p99).toFixed(3)} ms`);
    rows.push(row);
  }
  return rows;
}

const STAT_CLIENT = (n: number) => `
import os, time, json
open('f', 'w').close()
t = time.monotonic()
for i in range(${n}): os.stat('f')
print(json.dumps({"rate": ${n} / (time.monotonic() - t)}))`;

async function emptyRules(): Promise<string[][]> {
  const n = quick ? 5000 : 30000;
  const mount = 'mount: { attrTimeout: 0, entryTimeout: 0 }\n';
  const rows: string[][] = [];
  const rates: Record<string, number[]> = { none: [], empty: [] };
  for (let round = 0; round < (quick ? 1 : 3); round++) {
    rates.none.push((await withConfig('none', `backend: { type: memory }\n${mount}`, (m) => client(STAT_CLIENT(n), m))).rate);
    rates.empty.push(
      (
        await withConfig('empty', `backend: { type: memory }\n${mount}layers:\n  - fault: { rules: [] }\n`, (m) =>
          client(STAT_CLIENT(n), m),
        )
      ).rate,
    );
  }
  const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  const none = median(rates.none);
  const empty = median(rates.empty);
  rows.push(['stat/s, no layers', none.toFixed(0), '']);
  rows.push(['stat/s, empty fault rule set', empty.toFixed(0), `${((empty / none) * 100).toFixed(1)}% of no layers`]);
  return rows;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ')).join('\n');
}

try {
  const rows: string[][] = [['measurement', 'result', 'error / note']];
  for (const rate of [1, 10, 100]) rows.push(await throttle(rate));
  rows.push(...(await latency()));
  rows.push(...(await emptyRules()));
  process.stdout.write(`${table(rows)}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
