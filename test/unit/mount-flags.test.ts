// The mount flags laid over a config file: --metrics-data sets the data mode of
// the metrics layer --metrics adds, or of the config file's own; --busy-poll reaches the mount plan.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../src/config/load.ts';
import { loadMountConfig, mountPlan } from '../../src/cli/options.ts';

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

test('--busy-poll reaches the request loop the mount would start, and is bounded', async () => {
  const { config, rawLayers } = loadMountConfig({ busyPoll: '200us' }, 'memory');
  const plan = await mountPlan(config, rawLayers, '/mnt/example');
  assert.equal(plan.busyPollMs, 0.2);
  const off = loadMountConfig({}, 'memory');
  assert.equal((await mountPlan(off.config, off.rawLayers, '/mnt/example')).busyPollMs, 0, 'off unless asked for');
  assert.throws(
    () => loadMountConfig({ busyPoll: '1s' }, 'memory'),
    (e: unknown) => e instanceof ConfigError && /mount\.busyPoll: expected at most 10ms/.test(e.message),
  );
});
