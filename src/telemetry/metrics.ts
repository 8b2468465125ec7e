// OpenTelemetry metrics exported on a Prometheus endpoint. One MeterProvider
// per process; every mount in it adds its instruments with its own labels.
import type { MetricsSink } from '../layers/metrics.ts';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { listenError, ON_CONTROL_SOCKET, parseListen } from './listen.ts';
import { DurationHistograms } from './histograms.ts';
import { onFlush, setScrapeHandler } from './running.ts';

/** Bucket bounds in seconds: 10µs to 10s, about three per decade. */
const DURATION_BUCKETS = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

let provider: MeterProvider | undefined;
let exporter: PrometheusExporter | undefined;
let durations: DurationHistograms | undefined;

/** Starts the Prometheus endpoint at `listen` (HOST:PORT, or 'control') once; later calls reuse it. */
export async function startMetrics(listen: string): Promise<MetricsSink> {
  if (!provider || !durations) {
    const where = listen === ON_CONTROL_SOCKET ? { host: '127.0.0.1', port: 0 } : parseListen(listen);
    durations = new DurationHistograms({
      name: 'interposer_operation_duration_seconds',
      description: 'Time to answer an operation, from this layer down',
      bounds: DURATION_BUCKETS,
      scope: 'interposer',
    });
    exporter = new PrometheusExporter({ ...where, preventServerStart: true, metricProducers: [durations] });
    if (listen !== ON_CONTROL_SOCKET) {
      await exporter.startServer().catch((err: NodeJS.ErrnoException) => {
        throw listenError(listen, err);
      });
    }
    // No histogram goes through the SDK (durations are the producer's), so no bucket view is needed.
    provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': 'interposer' }), readers: [exporter] });
    metrics.setGlobalMeterProvider(provider);
    const e = exporter;
    setScrapeHandler((req, res) => e.getMetricsRequestHandler(req, res));
    onFlush(stopMetrics);
  }
  return { meter: provider.getMeter('interposer'), durations };
}

export async function stopMetrics(): Promise<void> {
  await provider?.shutdown();
  provider = undefined;
  exporter = undefined;
  durations = undefined;
  setScrapeHandler(null);
}
