// Latency: delays ops by a fixed time or a distribution before they run.
// Rules are tried in order; the first that fires sets the delay.
import type { LatencyRuleConfig } from '../config/layers.ts';
import { sampler, type Distribution, type Sampler } from '../rules/distribution.ts';
import { Rule } from '../rules/rule.ts';
import { originOf, ruleSpec, type RuleOrigin } from './rule-spec.ts';
import { sleep } from './sleep.ts';
import type { Layer } from './stack.ts';

function toDistribution(r: LatencyRuleConfig): Distribution {
  if (r.delay !== undefined) return { fixed: r.delay };
  const d = r.distribution!;
  if (d.fixed !== undefined) return { fixed: d.fixed };
  if (d.uniform) return { uniform: d.uniform };
  if (d.normal) return { normal: d.normal };
  if (d.exponential) return { exponential: d.exponential };
  if (d.lognormal) return { lognormal: d.lognormal };
  if (d.pareto) return { pareto: d.pareto };
  return { empirical: Object.entries(d.empirical!).map(([p, value]) => ({ p: Number(p.replace(/^p/, '')), value })) };
}

export function createLatencyLayer(config: { seed: number; rules: LatencyRuleConfig[] }, origin: RuleOrigin, prefix: string): Layer {
  const rules: Array<{ rule: Rule; sample: Sampler }> = config.rules.map((r, i) => {
    const spec = ruleSpec(r, `${prefix}.rules[${i}]`);
    return { rule: new Rule(spec, config.seed, originOf(origin, spec.name)), sample: sampler(toDistribution(r)) };
  });
  return {
    kind: 'latency',
    disturbs: true,
    idle: rules.length === 0,
    around(op, next) {
      const now = Date.now();
      for (const { rule, sample } of rules) {
        // A ramp raises the delay, not how often it applies (else the mean delay would rise with its square).
        if (!rule.matches(op) || !rule.fires(op, now, false)) continue;
        const ms = sample(rule.random()) * rule.scale(now);
        return sleep(ms, op.ctx.signal).then(next);
      }
      return next();
    },
    needs: (shortcut, path) => rules.some((r) => r.rule.mightSee(shortcut, path)),
    rules: () => rules.map((r) => r.rule),
  };
}
