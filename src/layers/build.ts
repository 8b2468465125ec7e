// From the `layers` section of a config to the Layer list of a stack.
import type { LayerConfig } from '../config/layers.ts';
import { createDurabilityLayer } from './durability.ts';
import { createFaultLayer } from './fault.ts';
import { createLatencyLayer } from './latency.ts';
import type { Layer } from './stack.ts';
import { createMetricsLayer, type MetricsSink } from './metrics.ts';
import { createTraceLayer } from './trace.ts';
import type { Attributes, Tracer } from '@opentelemetry/api';
import { createThrottleLayer } from './throttle.ts';
import type { RuleOrigin } from './rule-spec.ts';

export interface LayerDeps {
  metrics?: MetricsSink;
  tracer?: Tracer;
  labels: Attributes;
}

/** `origin`: when rules' relative windows and ramps count from (the mount's start, or per rule). */
export function buildLayers(configs: LayerConfig[], origin: RuleOrigin, deps: LayerDeps = { labels: {} }): Layer[] {
  return configs.map((c, i) => {
    const prefix = `layers[${i}]`;
    if (c.fault) return createFaultLayer(c.fault, origin, prefix);
    if (c.latency) return createLatencyLayer(c.latency, origin, prefix);
    if (c.durability) return createDurabilityLayer(c.durability);
    if (c.metrics) {
      if (!deps.metrics) throw new Error(`${prefix}: metrics layer without a metrics endpoint`);
      return createMetricsLayer(deps.metrics, deps.labels, c.metrics.data);
    }
    if (c.trace) {
      if (!deps.tracer) throw new Error(`${prefix}: trace layer without a trace sink`);
      return createTraceLayer(deps.tracer, c.trace);
    }
    return createThrottleLayer(c.throttle!, origin, prefix);
  });
}
