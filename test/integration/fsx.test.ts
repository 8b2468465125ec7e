// fsx, the File System eXerciser (Rust port), against mounts whose data take
// different ways: the kernel's own passthrough, the daemon's replies with and
// without the kernel's page cache, delays that answer requests out of order,
// requests through FUSE over io_uring, and the memory backend. fsx checks
// every byte it reads against its model of the file, through pread, mmap,
// sendfile and copy_file_range, after writes, truncates, hole punches and
// fallocates. Two files at a time per mount, with fixed seeds so a failure
// can be replayed (`fsx -S SEED`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, withBackendMount, withTempDir, type ConfigDoc } from '../helpers/mount.ts';
import { withUringParam } from '../helpers/uring.ts';

const FSX = join(ROOT, '.tools/bin/fsx');
const CONFIG = join(ROOT, 'test/conformance/fsx.toml');
const OPS = 20000;

interface Run {
  seed: number;
  ok: boolean;
  out: string;
}

/** fsx on DIR/fSEED; `artifacts`: where it leaves its log and the good copy if it finds a fault. */
function fsx(dir: string, seed: number, artifacts: string): Promise<Run> {
  const args = ['-f', CONFIG, '-N', String(OPS), '-S', String(seed), '-P', artifacts, join(dir, `f${seed}`)];
  return new Promise((resolve) => {
    execFile(FSX, args, { timeout: 240_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const out = `${stdout}${stderr}`;
      resolve({ seed, ok: err === null && out.includes('All operations completed A-OK'), out });
    });
  });
}

/** fsx's verdict (what it found, where) at the top, the last operations of its log at the bottom. */
const excerpt = (out: string): string => (out.length <= 5000 ? out : `${out.slice(0, 2000)}\n...\n${out.slice(-3000)}`);

/** Two fsx runs at once in `dir`; fails with an excerpt of what each failing run printed. */
async function exercise(dir: string, seeds: [number, number], what: string): Promise<void> {
  await withTempDir('fsx-artifacts', async (artifacts) => {
    const runs = await Promise.all(seeds.map((seed) => fsx(dir, seed, artifacts)));
    const failed = runs.filter((r) => !r.ok);
    assert.equal(failed.length, 0, failed.map((r) => `${what}, seed ${r.seed}:\n${excerpt(r.out)}`).join('\n'));
  });
}

test('fsx is installed (scripts/setup builds it)', () => {
  assert.ok(existsSync(FSX), `${FSX} is missing: run scripts/setup`);
});

test('fsx: the native baseline keeps every byte', () => withTempDir('fsx-native', (dir) => exercise(dir, [1, 2], 'native')));

/** Delays that differ from request to request, so replies overtake each other. */
const latency = (ops: string[]): NonNullable<ConfigDoc['layers']>[number] => ({
  latency: { seed: 1, rules: [{ ops, distribution: { lognormal: { median: '100us', p99: '2ms' } } }] },
});

const MOUNTS: { name: string; backend: 'passthrough' | 'memory'; config: ConfigDoc; seeds: [number, number]; uring?: true }[] = [
  { name: 'passthrough, the kernel serving the data', backend: 'passthrough', config: {}, seeds: [3, 4] },
  {
    name: 'passthrough, data through the daemon with the writeback cache, delayed, throttled and tracked for a crash',
    backend: 'passthrough',
    config: {
      mount: { kernelPassthrough: 'off', writebackCache: true },
      layers: [latency(['read', 'write', 'fsync']), { throttle: { read: '200MiB/s', write: '200MiB/s', iops: 20000 } }, { durability: {} }],
    },
    seeds: [5, 6],
  },
  {
    name: 'passthrough without the page cache, reads delayed',
    backend: 'passthrough',
    config: { mount: { cache: 'direct' }, layers: [latency(['read'])] },
    seeds: [7, 8],
  },
  {
    name: 'passthrough over FUSE io_uring, data through the daemon, delayed',
    backend: 'passthrough',
    config: { mount: { ioUring: 'on', kernelPassthrough: 'off' }, layers: [latency(['read', 'write'])] },
    seeds: [9, 10],
    uring: true,
  },
  { name: 'memory', backend: 'memory', config: {}, seeds: [11, 12] },
  { name: 'memory with the writeback cache', backend: 'memory', config: { mount: { writebackCache: true } }, seeds: [13, 14] },
];

for (const m of MOUNTS) {
  const exercised = (): Promise<void> =>
    withBackendMount(m.backend, m.config, async (mnt, d) => {
      await exercise(mnt, m.seeds, m.name);
      assert.doesNotMatch(d.log(), /"level":(50|60)/, `the daemon logged no error:\n${d.log().slice(-4000)}`);
    });
  test(`fsx: ${m.name}: every byte read is the byte written`, () => (m.uring ? withUringParam('Y', exercised) : exercised()));
}
