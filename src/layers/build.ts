// From the `layers` section of a config to the Layer list of a stack.
import type { LayerConfig } from '../config/layers.ts';
import { createDurabilityLayer } from './durability.ts';
import { createFaultLayer } from './fault.ts';
import { createLatencyLayer } from './latency.ts';
import type { Layer } from './stack.ts';
import { createThrottleLayer } from './throttle.ts';

/** `origin` is when the mount started (ms since the epoch): windows count from it. */
export function buildLayers(configs: LayerConfig[], origin: number): Layer[] {
  return configs.map((c, i) => {
    const prefix = `layers[${i}]`;
    if (c.fault) return createFaultLayer(c.fault, origin, prefix);
    if (c.latency) return createLatencyLayer(c.latency, origin, prefix);
    if (c.durability) return createDurabilityLayer(c.durability);
    return createThrottleLayer(c.throttle!, origin, prefix);
  });
}
