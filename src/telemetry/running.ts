// The telemetry this process has started, reachable without loading
// OpenTelemetry. The exporters are imported only when a config asks for them
// (metrics and OTLP bring tens of MiB of modules a plain mount does not need);
// once started they register here what the rest of the daemon calls.
import type { IncomingMessage, ServerResponse } from 'node:http';

export type ScrapeHandler = (req: IncomingMessage, res: ServerResponse) => void;

export type SinkName = 'otlp' | 'file';

let scrape: ScrapeHandler | null = null;
let sinks: readonly SinkName[] = [];

/** Spans each sink delivered or lost (collector down, file not writable, queue full), for metrics. */
export const spanCounts: Record<SinkName, { exported: number; dropped: number }> = {
  otlp: { exported: 0, dropped: 0 },
  file: { exported: 0, dropped: 0 },
};

/** The sinks spans are sent to (none unless tracing started). */
export function traceSinks(): readonly SinkName[] {
  return sinks;
}

export function setTraceSinks(active: readonly SinkName[]): void {
  sinks = active;
}
const stops = new Set<() => Promise<void>>();

/** The Prometheus scrape handler for GET /metrics on the control socket; null while metrics are off. */
export function scrapeHandler(): ScrapeHandler | null {
  return scrape;
}

export function setScrapeHandler(handler: ScrapeHandler | null): void {
  scrape = handler;
}

/** `stop` delivers what is queued and closes the exporter; flushTelemetry() calls it once. */
export function onFlush(stop: () => Promise<void>): void {
  stops.add(stop);
}

/** Delivers spans still queued and closes the metrics endpoint, before the process exits (at most 3 s). */
export async function flushTelemetry(): Promise<void> {
  const pending = [...stops].map((stop) => stop());
  stops.clear();
  if (pending.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise((resolve) => (timer = setTimeout(resolve, 3000)));
  await Promise.race([Promise.allSettled(pending), deadline]);
  clearTimeout(timer);
}
