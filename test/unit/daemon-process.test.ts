// The Node flags and environment a daemon needs are written in three places:
// cli/daemon-process.ts (daemons the CLI, the CSI plugin and the bench start),
// bin/interposer (the CLI as users run it) and the container image. They must
// say the same, or one way of starting a daemon quietly gets more memory.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/** The CPUs a cgroup v2 limit at the mount's root allows, as bin/interposer reads it; Infinity for none. */
function rootCpuLimit(): number {
  try {
    const [quota, period] = readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    return quota === 'max' ? Infinity : Math.floor(Number(quota) / Number(period));
  } catch {
    return Infinity;
  }
}

test('bin/interposer sizes the V8 pool as the daemons the CLI starts do', () => {
  // A copy of the script beside a stand-in for node that prints its arguments, and an nproc that says N.
  const dir = mkdtempSync(join(tmpdir(), 'interposer-bin-'));
  try {
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'node_modules/node/bin'), { recursive: true });
    mkdirSync(join(dir, 'fake'));
    copyFileSync(join(ROOT, 'bin/interposer'), join(dir, 'bin/interposer'));
    writeFileSync(join(dir, 'node_modules/node/bin/node'), '#!/bin/sh\necho "$@"\n');
    writeFileSync(join(dir, 'fake/nproc'), '#!/bin/sh\necho "$FAKE_NPROC"\n');
    for (const f of ['bin/interposer', 'node_modules/node/bin/node', 'fake/nproc']) chmodSync(join(dir, f), 0o755);
    for (const cpus of [1, 2, 3, 8]) {
      const r = spawnSync(join(dir, 'bin/interposer'), ['--version'], {
        encoding: 'utf8',
        env: { ...process.env, PATH: `${join(dir, 'fake')}:${process.env.PATH}`, FAKE_NPROC: String(cpus) },
      });
      assert.equal(r.status, 0, r.stderr);
      const pool = v8PoolSize(Math.min(cpus, rootCpuLimit()));
      assert.ok(r.stdout.split(' ').includes(`--v8-pool-size=${pool}`), `${cpus} CPUs: ${r.stdout}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
