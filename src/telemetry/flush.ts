import { stopMetrics } from './metrics.ts';
import { stopTracing } from './traces.ts';

/** Delivers spans still queued and closes the metrics endpoint, before the process exits. */
export async function flushTelemetry(): Promise<void> {
  await Promise.race([Promise.allSettled([stopTracing(), stopMetrics()]), new Promise((r) => setTimeout(r, 3000))]);
}
