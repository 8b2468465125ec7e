// The Node flags and environment a daemon needs are written in three places:
// cli/daemon-process.ts (daemons the CLI, the CSI plugin and the bench start),
// bin/interposer (the CLI as users run it) and the container image. They must
// say the same, or one way of starting a daemon quietly gets more memory.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DAEMON_ENV, DAEMON_MEMORY_FLAGS, daemonNodeFlags, v8PoolSize } from '../../src/cli/daemon-process.ts';

const ROOT = join(import.meta.dirname, '../..');

test('bin/interposer runs node with the daemon flags and sets the daemon environment', () => {
  const script = readFileSync(join(ROOT, 'bin/interposer'), 'utf8');
  const exec = script.split('\n').find((l) => l.startsWith('exec '));
  assert.ok(exec, 'bin/interposer ends in an exec of node');
  for (const flag of DAEMON_MEMORY_FLAGS) assert.ok(exec.split(' ').includes(flag), `bin/interposer passes ${flag}: ${exec}`);
  for (const [name, value] of Object.entries(DAEMON_ENV)) assert.match(script, new RegExp(`export ${name}=${value}\\n`));
});

test('the container image starts node with the daemon flags and environment', () => {
  const file = readFileSync(join(ROOT, 'deploy/Containerfile'), 'utf8');
  const entry = /^ENTRYPOINT (\[.*\])$/m.exec(file);
  assert.ok(entry, 'the Containerfile has an exec-form ENTRYPOINT');
  const argv = JSON.parse(entry[1]) as string[];
  assert.equal(argv[0], 'node');
  assert.deepEqual(argv.slice(1, 1 + DAEMON_MEMORY_FLAGS.length), [...DAEMON_MEMORY_FLAGS]);
  for (const [name, value] of Object.entries(DAEMON_ENV)) assert.match(file, new RegExp(`^ENV ${name}=${value}$`, 'm'));
});

test("V8's pool: one helper fewer than the CPUs, at least one, at most Node's four", () => {
  for (const [cpus, pool] of [
    [0.5, 1],
    [1, 1],
    [1.5, 1],
    [2, 1],
    [2.9, 1],
    [3, 2],
    [5, 4],
    [64, 4],
  ]) {
    assert.equal(v8PoolSize(cpus), pool, `${cpus} CPUs`);
    assert.deepEqual(daemonNodeFlags(cpus), [...DAEMON_MEMORY_FLAGS, `--v8-pool-size=${pool}`]);
  }
});

test('bin/interposer sizes the V8 pool as the daemons the CLI starts do, counting a cgroup v2 CPU limit', () => {
  // A copy of the script beside a stand-in for node that prints its arguments, an nproc that says N,
  // and a stand-in for the cgroup's cpu.max.
  const dir = mkdtempSync(join(tmpdir(), 'interposer-bin-'));
  try {
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'node_modules/node/bin'), { recursive: true });
    mkdirSync(join(dir, 'fake'));
    const script = readFileSync(join(ROOT, 'bin/interposer'), 'utf8');
    assert.ok(script.includes('/sys/fs/cgroup/cpu.max'), 'bin/interposer reads the cgroup v2 CPU limit');
    const cpuMax = join(dir, 'cpu.max');
    writeFileSync(join(dir, 'bin/interposer'), script.replaceAll('/sys/fs/cgroup/cpu.max', cpuMax));
    writeFileSync(join(dir, 'node_modules/node/bin/node'), '#!/bin/sh\necho "$@"\n');
    writeFileSync(join(dir, 'fake/nproc'), '#!/bin/sh\necho "$FAKE_NPROC"\n');
    for (const f of ['bin/interposer', 'node_modules/node/bin/node', 'fake/nproc']) chmodSync(join(dir, f), 0o755);
    // [CPUs nproc reports, cpu.max (null: no such file), the CPUs the daemon may use]
    const cases: [number, string | null, number][] = [
      [1, null, 1],
      [2, null, 2],
      [3, null, 3],
      [8, null, 8],
      [8, 'max 100000', 8],
      [8, '150000 100000', 1.5],
      [8, '300000 100000', 3],
      [2, '400000 100000', 2],
    ];
    for (const [cpus, limit, budget] of cases) {
      if (limit === null) rmSync(cpuMax, { force: true });
      else writeFileSync(cpuMax, `${limit}\n`);
      const r = spawnSync(join(dir, 'bin/interposer'), ['--version'], {
        encoding: 'utf8',
        env: { ...process.env, PATH: `${join(dir, 'fake')}:${process.env.PATH}`, FAKE_NPROC: String(cpus) },
      });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '', 'no complaint about a missing cpu.max');
      assert.ok(r.stdout.split(' ').includes(`--v8-pool-size=${v8PoolSize(budget)}`), `${cpus} CPUs, cpu.max ${limit}: ${r.stdout}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
