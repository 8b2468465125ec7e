// Delay distributions: 50,000 samples each from a fixed seed, compared with
// what the parameters promise. The seed is fixed, so every bound here is met
// or missed the same way on every run.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sampler, type Distribution } from '../../src/rules/distribution.ts';
import { Rng } from '../../src/rules/rng.ts';
import { validateConfig } from '../../src/config/load.ts';
import { createLatencyLayer } from '../../src/layers/latency.ts';

const N = 50_000;

function draw(d: Distribution, seed = 2024): number[] {
  const rng = new Rng(seed);
  const sample = sampler(d);
  return Array.from({ length: N }, () => sample(rng));
}

const mean = (xs: number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
const sd = (xs: number[]): number => {
  const m = mean(xs);
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
};
/** The q-th percentile (0..100) of the samples. */
function percentile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((q / 100) * sorted.length))];
}
function near(actual: number, expected: number, relative: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= relative * Math.abs(expected),
    `${what}: ${actual} is not within ${relative * 100}% of ${expected}`,
  );
}

describe('rng', () => {
  test('the same seed gives the same stream; next() is in [0, 1), below(n) in [0, n)', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    const c = new Rng(8);
    const sa = Array.from({ length: 100 }, () => a.u32());
    assert.deepEqual(
      sa,
      Array.from({ length: 100 }, () => b.u32()),
    );
    assert.notDeepEqual(
      sa,
      Array.from({ length: 100 }, () => c.u32()),
    );
    const r = new Rng(1);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < N; i++) {
      const x = r.next();
      assert.ok(x >= 0 && x < 1);
      counts[r.below(10)]++;
    }
    for (const k of counts) near(k, N / 10, 0.05, 'below(10) bucket');
  });
});

describe('distributions', () => {
  test('fixed: every sample is exactly the value', () => {
    assert.ok(draw({ fixed: 12.5 }).every((x) => x === 12.5));
    assert.ok(draw({ fixed: 0 }).every((x) => x === 0));
  });

  test('uniform: within [min, max), mean (min+max)/2', () => {
    const xs = draw({ uniform: { min: 2, max: 10 } });
    assert.ok(xs.every((x) => x >= 2 && x < 10));
    near(mean(xs), 6, 0.01, 'mean');
    assert.ok(Math.min(...xs) < 2.01 && Math.max(...xs) > 9.99, 'spans the range');
  });

  test('normal: mean and standard deviation; never negative', () => {
    const xs = draw({ normal: { mean: 10, stddev: 2 } });
    near(mean(xs), 10, 0.01, 'mean');
    near(sd(xs), 2, 0.02, 'stddev');
    near(percentile(xs, 50), 10, 0.01, 'median');
    // one sd either side holds about 68.27%
    near(xs.filter((x) => Math.abs(x - 10) <= 2).length / N, 0.6827, 0.02, 'within one sd');
    const wide = draw({ normal: { mean: 1, stddev: 5 } });
    assert.ok(
      wide.every((x) => x >= 0),
      'clamped at 0',
    );
    assert.ok(wide.some((x) => x === 0));
  });

  test('exponential: mean; median mean*ln 2', () => {
    const xs = draw({ exponential: { mean: 5 } });
    assert.ok(xs.every((x) => x >= 0));
    near(mean(xs), 5, 0.02, 'mean');
    near(percentile(xs, 50), 5 * Math.LN2, 0.03, 'median');
  });

  test('lognormal by median and p99: both within a few %', () => {
    for (const [median, p99] of [
      [2, 40],
      [10, 12],
      [1, 1000],
    ]) {
      const xs = draw({ lognormal: { median, p99 } });
      assert.ok(xs.every((x) => x > 0));
      near(percentile(xs, 50), median, 0.03, `median of (${median}, ${p99})`);
      near(percentile(xs, 99), p99, 0.05, `p99 of (${median}, ${p99})`);
    }
  });

  test('pareto: minimum is the scale, median scale*2^(1/shape)', () => {
    for (const [scale, shape] of [
      [3, 2],
      [1, 1.16],
      [0.5, 5],
    ]) {
      const xs = draw({ pareto: { scale, shape } });
      const min = Math.min(...xs);
      assert.ok(min >= scale, `min ${min} >= ${scale}`);
      near(min, scale, 0.001, 'min');
      near(percentile(xs, 50), scale * 2 ** (1 / shape), 0.03, `median of (${scale}, ${shape})`);
    }
  });

  test('empirical: the given percentiles come back; values stay between the first and last', () => {
    const points = [
      { p: 50, value: 1 },
      { p: 90, value: 10 },
      { p: 99, value: 100 },
      { p: 100, value: 400 },
    ];
    const xs = draw({ empirical: [...points].reverse() }); // order of the points does not matter
    assert.ok(xs.every((x) => x >= 1 && x <= 400));
    // The share of samples at or below each given value is its percentile (the
    // CDF is compared, not the quantile: between p90 and p99 the values climb
    // 10 ms per percentile, so a quantile estimate would wobble by ms).
    const share = (v: number): number => xs.filter((x) => x <= v).length / N;
    for (const { p, value } of points.slice(1, 3))
      assert.ok(Math.abs(share(value) - p / 100) <= 0.006, `share <= ${value}: ${share(value)}, expected ${p / 100}`);
    // Between points the values are interpolated linearly.
    near(percentile(xs, 70), 1 + (20 / 40) * 9, 0.03, 'p70 (interpolated)');
    assert.ok(Math.abs(share(55) - 0.945) <= 0.006, `share <= 55: ${share(55)}`);
    // Below the first point every sample is its value.
    near(xs.filter((x) => x === 1).length / N, 0.5, 0.02, 'share at the p50 value');
  });

  test('the same seed gives the same samples', () => {
    const d: Distribution = { lognormal: { median: 2, p99: 40 } };
    assert.deepEqual(draw(d, 5).slice(0, 1000), draw(d, 5).slice(0, 1000));
    assert.notDeepEqual(draw(d, 5).slice(0, 1000), draw(d, 6).slice(0, 1000));
  });

  test('from config: units become milliseconds, p-keys percentiles', () => {
    const c = validateConfig({
      layers: [
        {
          latency: {
            seed: 3,
            rules: [
              { ops: ['read'], distribution: { lognormal: { median: '2ms', p99: '40ms' } } },
              { ops: ['write'], distribution: { empirical: { p50: '1ms', p99: '1s', '100': '2s' } } },
              { ops: ['fsync'], distribution: { pareto: { scale: '500us', shape: 2 } } },
              { ops: ['flush'], delay: '5ms' },
            ],
          },
        },
      ],
    });
    const rules = c.layers[0].latency!.rules;
    assert.deepEqual(rules[0].distribution, { lognormal: { median: 2, p99: 40 } });
    assert.deepEqual(rules[1].distribution, { empirical: { p50: 1, p99: 1000, '100': 2000 } });
    assert.deepEqual(rules[2].distribution, { pareto: { scale: 0.5, shape: 2 } });
    assert.equal(rules[3].delay, 5);
    // The layer builds from it.
    const layer = createLatencyLayer(c.layers[0].latency!, Date.now(), 'layers[0]');
    assert.equal(layer.rules!().length, 4);
  });
});
