// The mount flags laid over a config file: --metrics-data sets the data mode of
// the metrics layer --metrics adds, or of the config file's own; --busy-poll reaches the mount plan;
// --prefetch sets the passthrough backend's.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../src/config/load.ts';
import { loadMountConfig, mountPlan } from '../../src/cli/options.ts';
import { busyPollWindow } from '../../src/fuse/busy-poll.ts';
import { cpuBudget } from '../../src/util/cpu-budget.ts';

test('--metrics-data: the mode of the metrics layer, from --metrics or the config file', () => {
  const metricsOf = (flags: Parameters<typeof loadMountConfig>[0]) => loadMountConfig(flags, 'memory').config.layers.map((l) => l.metrics);
  assert.deepEqual(metricsOf({ metrics: '127.0.0.1:9464' }), [{ data: 'observe' }]);
  assert.deepEqual(metricsOf({ metrics: '127.0.0.1:9464', metricsData: 'kernel' }), [{ data: 'kernel' }]);

  const dir = mkdtempSync(join(tmpdir(), 'interposer-flags-'));
  try {
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'telemetry: { metrics: 127.0.0.1:9464 }\nlayers: [{ metrics: { data: kernel } }, { fault: { rules: [] } }]\n');
    assert.deepEqual(metricsOf({ config: file }), [{ data: 'kernel' }, undefined]);
    assert.deepEqual(metricsOf({ config: file, metricsData: 'observe' }), [{ data: 'observe' }, undefined], 'the flag overrides the file');
    const { rawLayers } = loadMountConfig({ config: file, metricsData: 'observe' });
    assert.deepEqual(rawLayers[0], { metrics: { data: 'observe' } }, 'what the control API edits says so too');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  assert.throws(
    () => metricsOf({ metrics: '127.0.0.1:9464', metricsData: 'fast' }),
    (e: unknown) => e instanceof ConfigError && e.message === '--metrics-data "fast" is not a mode; expected one of observe, kernel',
  );
  assert.throws(
    () => metricsOf({ metricsData: 'kernel' }),
    (e: unknown) => e instanceof ConfigError && /^--metrics-data needs a metrics layer: pass --metrics/.test(e.message),
  );
});

test('--busy-poll reaches the request loop the mount would start, and is bounded; auto spins only with two CPUs', async () => {
  const windowOf = async (flags: Parameters<typeof loadMountConfig>[0]): Promise<number | undefined> => {
    const { config, rawLayers } = loadMountConfig(flags, 'memory');
    return (await mountPlan(config, rawLayers, '/mnt/example')).busyPollMs;
  };
  assert.equal(await windowOf({ busyPoll: '500us' }), 0.5);
  assert.equal(await windowOf({ busyPoll: '0' }), 0, '0 turns it off');
  assert.equal(await windowOf({}), cpuBudget() >= 2 ? 0.2 : 0, 'auto by default');
  assert.equal(await windowOf({ busyPoll: 'auto' }), cpuBudget() >= 2 ? 0.2 : 0);
  assert.equal(
    busyPollWindow('auto', () => 1),
    0,
    'one CPU: a spin would only delay the client it waits for',
  );
  assert.equal(
    busyPollWindow('auto', () => 1.5),
    0,
    'a container allowed 1.5 CPUs',
  );
  assert.equal(
    busyPollWindow('auto', () => 2),
    0.2,
  );
  assert.equal(
    busyPollWindow(0.05, () => 1),
    0.05,
    'an explicit window is kept on any machine',
  );
  assert.throws(
    () => loadMountConfig({ busyPoll: '1s' }, 'memory'),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.message.includes('mount.busyPoll: "1s" is not a busy-poll window; expected auto, 0 (off) or a duration up to 10ms, e.g. 200us'),
  );
});

test("--prefetch: the passthrough backend's read-ahead at open, refused for the other backends", () => {
  const backendOf = (flags: Parameters<typeof loadMountConfig>[0]) => loadMountConfig(flags, 'memory').config.backend;
  assert.deepEqual(
    backendOf({ backend: 'passthrough:/srv/data' }),
    { type: 'passthrough', path: '/srv/data', prefetch: 128 * 1024 },
    'on by default',
  );
  assert.deepEqual(backendOf({ backend: 'passthrough:/srv/data', prefetch: '0' }), { type: 'passthrough', path: '/srv/data', prefetch: 0 });
  assert.deepEqual(backendOf({ backend: 'passthrough:/srv/data', prefetch: '1MiB' }), {
    type: 'passthrough',
    path: '/srv/data',
    prefetch: 1024 * 1024,
  });
  assert.throws(
    () => backendOf({ prefetch: '64KiB' }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.message === '--prefetch applies to the passthrough backend, not "memory"; pass --backend passthrough:DIR or drop --prefetch',
  );
  assert.throws(
    () => backendOf({ backend: 'passthrough:/srv/data', prefetch: 'lots' }),
    (e: unknown) => e instanceof ConfigError && e.message.includes('backend.prefetch: "lots" is not a size; expected'),
  );
});
