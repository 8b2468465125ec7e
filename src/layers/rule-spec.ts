// From a validated rule config to the RuleSpec the matcher and trigger use.
import type { ruleFields } from '../config/layers.ts';
import type { RuleSpec } from '../rules/rule.ts';
import type { z } from 'zod';

type RuleFields = { [K in keyof typeof ruleFields]: z.output<(typeof ruleFields)[K]> };

export function ruleSpec(r: Partial<RuleFields>, defaultName: string): RuleSpec {
  return {
    name: r.name ?? defaultName,
    ops: r.ops,
    paths: r.paths,
    exclude: r.exclude,
    process: r.process,
    size: r.size,
    probability: r.probability,
    after: r.after,
    every: r.every,
    times: r.times,
    afterBytes: r.afterBytes,
    window: r.window,
    ramp: r.ramp,
  };
}
