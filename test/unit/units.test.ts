// Human units in configuration: sizes, durations (in ms) and rates (bytes/s),
// and the messages bad ones produce.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDuration, parseSize } from '../../src/config/units.ts';
import { duration, rate, size } from '../../src/config/layers.ts';
import { validateConfig } from '../../src/config/load.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

describe('sizes', () => {
  test('binary and decimal units, any case, optional space, fractions', () => {
    const cases: Array<[string | number, number]> = [
      [4096, 4096],
      [0, 0],
      ['0', 0],
      ['4096', 4096],
      ['4096b', 4096],
      ['4KiB', 4 * KiB],
      ['4kib', 4 * KiB],
      ['4k', 4 * KiB],
      ['4K', 4 * KiB],
      ['4KB', 4000],
      ['10MiB', 10 * MiB],
      ['10 MiB', 10 * MiB],
      [' 10M ', 10 * MiB],
      ['10MB', 10_000_000],
      ['1GiB', GiB],
      ['1.5GiB', 1.5 * GiB],
      ['1.5GB', 1.5e9],
      ['2TiB', 2 * 1024 * GiB],
      ['1TB', 1e12],
      ['0.5KiB', 512],
      ['1.0001KiB', 1024], // whole bytes, rounded down
      [4096.9, 4096],
    ];
    for (const [text, bytes] of cases) assert.equal(parseSize(text), bytes, JSON.stringify(text));
  });

  test('not sizes', () => {
    for (const bad of [
      '',
      ' ',
      'MiB',
      '-1',
      '-1KiB',
      '12parsecs',
      '1e6',
      '0x10',
      '1,024',
      '1.KiB',
      '.5KiB',
      '10 MiB/s',
      '1 2',
      -1,
      NaN,
      Infinity,
    ]) {
      assert.equal(parseSize(bad as string | number), null, JSON.stringify(bad));
    }
  });

  test('schema: a bad size names the value and what is expected', () => {
    assert.equal(size.parse('64KiB'), 64 * KiB);
    const r = size.safeParse('twelve');
    assert.equal(r.success, false);
    assert.match(r.error!.issues[0].message, /^"twelve" is not a size; expected a size such as 4096, 64KiB, 10MiB or 1GiB$/);
    assert.equal(size.safeParse(true).success, false);
  });
});

describe('durations', () => {
  test('ns, us, µs, ms, s, m, h; a bare number is seconds', () => {
    const cases: Array<[string | number, number]> = [
      ['250ns', 250e-6],
      ['500us', 0.5],
      ['500µs', 0.5],
      ['5ms', 5],
      ['5 ms', 5],
      ['1.5ms', 1.5],
      ['1s', 1000],
      ['0.25s', 250],
      ['2m', 120_000],
      ['1h', 3_600_000],
      ['0', 0],
      ['3', 3000],
      [3, 3000],
      [0.5, 500],
      ['5MS', 5],
      ['2S', 2000],
    ];
    for (const [text, ms] of cases) {
      const got = parseDuration(text);
      assert.ok(got !== null && Math.abs(got - ms) < 1e-12, `${JSON.stringify(text)}: ${got} != ${ms}`);
    }
  });

  test('not durations', () => {
    for (const bad of ['', 'ms', '-1s', '5 parsecs', '5d', '1e3ms', 'soon', '5ms5', -1, NaN, Infinity]) {
      assert.equal(parseDuration(bad as string | number), null, JSON.stringify(bad));
    }
  });

  test('schema: a bad duration names the value and what is expected', () => {
    assert.equal(duration.parse('10ms'), 10);
    const r = duration.safeParse('soon');
    assert.equal(r.success, false);
    assert.match(r.error!.issues[0].message, /^"soon" is not a duration; expected a duration such as 500us, 5ms, 1s or 2m$/);
  });
});

describe('rates', () => {
  test('a size per second, or a bare size', () => {
    assert.equal(rate.parse('10MiB/s'), 10 * MiB);
    assert.equal(rate.parse('500KiB/s'), 500 * KiB);
    assert.equal(rate.parse('1GB/s'), 1e9);
    assert.equal(rate.parse('1MiB'), MiB);
    assert.equal(rate.parse(1048576), MiB);
  });

  test('zero, negative and nonsense rates are refused with the expected form', () => {
    for (const bad of [0, '0/s', '0MiB/s', -5, 'fast', '10MiB/min', '/s', '10MiB/s/s']) {
      const r = rate.safeParse(bad);
      assert.equal(r.success, false, JSON.stringify(bad));
      assert.equal(r.error!.issues[0].message, `${JSON.stringify(bad)} is not a rate; expected e.g. 10MiB/s or 500KiB/s`);
    }
  });
});

describe('units in a whole config', () => {
  test('are resolved to bytes, ms and bytes/s; errors point at the field', () => {
    const c = validateConfig({
      backend: { type: 'memory', size: '256MiB' },
      mount: { attrTimeout: '250ms', maxWrite: '128KiB', busyPoll: '200us' },
      layers: [
        { throttle: { read: '20MiB/s', write: '5MiB/s', iops: 500, burst: '4MiB' } },
        {
          fault: {
            rules: [
              { ops: ['write'], afterBytes: '1MiB', errno: 'ENOSPC', window: { start: '30s', duration: '1m' }, ramp: { over: '10s' } },
            ],
          },
        },
      ],
    });
    assert.equal(c.backend.type === 'memory' && c.backend.size, 256 * MiB);
    assert.equal(c.mount.attrTimeout, 250);
    assert.equal(c.mount.maxWrite, 128 * KiB);
    assert.equal(c.mount.busyPoll, 0.2);
    assert.deepEqual(
      { read: c.layers[0].throttle!.read, write: c.layers[0].throttle!.write, burst: c.layers[0].throttle!.burst },
      { read: 20 * MiB, write: 5 * MiB, burst: 4 * MiB },
    );
    const rule = c.layers[1].fault!.rules[0];
    assert.equal(rule.afterBytes, MiB);
    assert.deepEqual(rule.window, { start: 30_000, duration: 60_000 });
    assert.deepEqual(rule.ramp, { over: 10_000 });

    assert.throws(
      () => validateConfig({ layers: [{ throttle: { read: '10MiB/s', burst: 'lots' } }] }),
      /layers\[0\]\.throttle\.burst: "lots" is not a size; expected/,
    );
    assert.throws(
      () => validateConfig({ mount: { busyPoll: '1s' } }),
      /mount\.busyPoll: "1s" is not a busy-poll window; expected auto, 0 \(off\) or a duration up to 10ms, e\.g\. 200us/,
    );
    assert.throws(
      () => validateConfig({ layers: [{ latency: { rules: [{ delay: '5 fortnights' }] } }] }),
      /layers\[0\]\.latency\.rules\[0\]\.delay: "5 fortnights" is not a duration; expected/,
    );
  });
});
