// Delay distributions for latency rules. Each samples milliseconds from a
// seeded Rng, so the same seed gives the same delays.
import type { Rng } from './rng.ts';

export type Distribution =
  | { fixed: number }
  | { uniform: { min: number; max: number } }
  | { normal: { mean: number; stddev: number } }
  | { exponential: { mean: number } }
  | { lognormal: { median: number; p99: number } }
  | { pareto: { scale: number; shape: number } }
  | { empirical: Array<{ p: number; value: number }> };

export type Sampler = (rng: Rng) => number;

/** z of the 99th percentile of the standard normal. */
const Z99 = 2.3263478740408408;

function gaussian(rng: Rng): number {
  // Box-Muller; 1 - u keeps log() away from 0.
  const u = 1 - rng.next();
  const v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Compiles a distribution (values in ms) into a sampler that never returns < 0. */
export function sampler(d: Distribution): Sampler {
  if ('fixed' in d) return () => d.fixed;
  if ('uniform' in d) {
    const { min, max } = d.uniform;
    return (rng) => min + (max - min) * rng.next();
  }
  if ('normal' in d) {
    const { mean, stddev } = d.normal;
    return (rng) => Math.max(0, mean + stddev * gaussian(rng));
  }
  if ('exponential' in d) {
    const { mean } = d.exponential;
    return (rng) => -mean * Math.log(1 - rng.next());
  }
  if ('lognormal' in d) {
    // median = e^mu; p99 = e^(mu + sigma * z99).
    const mu = Math.log(d.lognormal.median);
    const sigma = Math.log(d.lognormal.p99 / d.lognormal.median) / Z99;
    return (rng) => Math.exp(mu + sigma * gaussian(rng));
  }
  if ('pareto' in d) {
    const { scale, shape } = d.pareto;
    return (rng) => scale / Math.pow(1 - rng.next(), 1 / shape);
  }
  // Empirical: linear interpolation between the given percentiles.
  const points = [...d.empirical].sort((a, b) => a.p - b.p);
  return (rng) => {
    const u = rng.next() * 100;
    if (u <= points[0].p) return points[0].value;
    for (let i = 1; i < points.length; i++) {
      const hi = points[i];
      if (u <= hi.p) {
        const lo = points[i - 1];
        return lo.value + ((u - lo.p) / (hi.p - lo.p || 1)) * (hi.value - lo.value);
      }
    }
    return points[points.length - 1].value;
  };
}
