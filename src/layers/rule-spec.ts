// From a validated rule config to the RuleSpec the matcher and trigger use.
import type { ruleFields } from '../config/layers.ts';
import type { RuleSpec } from '../rules/rule.ts';
import type { z } from 'zod';

/**
 * When rules' relative windows and ramps start counting, in ms since the epoch: one time for every rule (the
 * mount's start), or per rule by name (the control API gives rules added at runtime the time they were added).
 */
export type RuleOrigin = number | ((ruleName: string) => number);

export function originOf(origin: RuleOrigin, ruleName: string): number {
  return typeof origin === 'number' ? origin : origin(ruleName);
}

type RuleFields = { [K in keyof typeof ruleFields]: z.output<(typeof ruleFields)[K]> };

export function ruleSpec(r: Partial<RuleFields>, defaultName: string): RuleSpec {
  return {
    name: r.name ?? defaultName,
    ops: r.ops,
    paths: r.paths,
    exclude: r.exclude,
    process: r.process,
    size: r.size,
    fileSize: r.fileSize,
    probability: r.probability,
    after: r.after,
    every: r.every,
    times: r.times,
    afterBytes: r.afterBytes,
    window: r.window,
    ramp: r.ramp,
  };
}
