// The public POSIX conformance suite (pjdfstest, Rust port) against the
// passthrough and memory mounts, with a native directory as the baseline run
// in the same test: a mount may fail only what the native filesystem fails.
// Mounts use --allow-other because the suite switches to other users.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, withMount, withTempDir } from '../helpers/mount.ts';
import { run } from '../helpers/run.ts';
import { withUringParam } from '../helpers/uring.ts';

const PJDFSTEST = join(ROOT, '.tools/bin/pjdfstest');
const CONFIG = join(ROOT, 'test/conformance/pjdfstest.toml');

interface Outcome {
  summary: string;
  /** Failed test names, each with the panic message pjdfstest prints under it. */
  failed: Map<string, string>;
  passed: number;
}

function pjdfstest(dir: string): Outcome {
  const r = run(PJDFSTEST, ['-c', CONFIG, '-p', dir], { cwd: dir });
  const out = `${r.stdout}${r.stderr}`;
  const summary = /^Summary: .*$/m.exec(out)?.[0];
  assert.ok(summary, `pjdfstest printed no summary (status ${r.status}):\n${out.slice(-3000)}`);
  const failed = new Map([...out.matchAll(/^(\S+)\s+FAILED\n(?:\t(.*))?/gm)].map((m) => [m[1], m[2] ?? '']));
  const passed = Number(/(\d+) passed/.exec(summary)![1]);
  return { summary, failed, passed };
}

function describe(failed: Map<string, string>): string {
  return [...failed].map(([name, why]) => `${name}: ${why}`).join('\n');
}

test('pjdfstest is installed (scripts/setup builds it)', () => {
  assert.ok(existsSync(PJDFSTEST), `${PJDFSTEST} is missing: run scripts/setup`);
});

// One test per mount, each within the test timeout; the native run is the baseline of all three.
let native: Outcome | undefined;

test('pjdfstest: the native baseline passes everything', async (t) => {
  // mkdtemp makes 0700 directories; the suite's other users must get in, as on a real mountpoint.
  native = await withTempDir('pjd-native', (dir) => {
    chmodSync(dir, 0o755);
    return pjdfstest(dir);
  });
  t.diagnostic(`native: ${native.summary}`);
  assert.ok(native.passed > 300, `the baseline ran: ${native.summary}`);
  assert.equal(native.failed.size, 0, `native fails nothing here: ${describe(native.failed)}`);
});

/** pjdfstest on a mount of `backend` (passthrough gets a fresh backing directory) fails nothing native passes. */
function conforms(name: string, backend: 'passthrough' | 'memory', extra: string[] = []) {
  return async (t: TestContext): Promise<void> => {
    assert.ok(native, 'the native baseline ran first');
    const base = native;
    await withTempDir('pjd-backing', (backing) => {
      chmodSync(backing, 0o755);
      const spec = backend === 'passthrough' ? `passthrough:${backing}` : 'memory';
      return withMount(['--allow-other', '--backend', spec, ...extra], async (mnt) => {
        const got = pjdfstest(mnt);
        t.diagnostic(`${name}: ${got.summary}`);
        const regressions = new Map([...got.failed].filter(([failed]) => !base.failed.has(failed)));
        assert.equal(regressions.size, 0, `${name}: fails what native passes:\n${describe(regressions)}`);
        assert.ok(got.passed >= base.passed - 1, `${name}: ${got.summary} vs native ${base.summary}`);
      });
    });
  };
}

test('pjdfstest: a passthrough mount fails nothing that native passes', conforms('passthrough', 'passthrough'));
test('pjdfstest: a memory mount fails nothing that native passes', conforms('memory', 'memory'));
test('pjdfstest: a passthrough mount over FUSE io_uring fails nothing that native passes', (t) =>
  withUringParam('Y', () => conforms('passthrough over io_uring', 'passthrough', ['--io-uring', 'on'])(t)));
