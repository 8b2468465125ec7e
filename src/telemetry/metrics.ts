// OpenTelemetry metrics exported on a Prometheus endpoint. One MeterProvider
// per process; every mount in it adds its instruments with its own labels.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { metrics, type Meter } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationType, InstrumentType, MeterProvider } from '@opentelemetry/sdk-metrics';

/** Bucket bounds in seconds: 10µs to 10s, about three per decade. */
export const DURATION_BUCKETS = [
  0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

let provider: MeterProvider | undefined;
let exporter: PrometheusExporter | undefined;

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*)\]?:)?(\d+)$/.exec(listen);
  if (!m) throw new Error(`metrics address ${JSON.stringify(listen)} is not HOST:PORT; expected e.g. 127.0.0.1:9464`);
  return { host: m[1] || '127.0.0.1', port: Number(m[2]) };
}

/** `telemetry.metrics: control`: no port of its own; metrics are served on the control socket (GET /metrics). */
export const ON_CONTROL_SOCKET = 'control';

/** Starts the Prometheus endpoint at `listen` (HOST:PORT, or 'control') once; later calls reuse it. */
export async function startMetrics(listen: string): Promise<Meter> {
  if (!provider) {
    const where = listen === ON_CONTROL_SOCKET ? { host: '127.0.0.1', port: 0 } : parseListen(listen);
    exporter = new PrometheusExporter({ ...where, preventServerStart: true });
    if (listen !== ON_CONTROL_SOCKET) await exporter.startServer();
    provider = new MeterProvider({
      resource: resourceFromAttributes({ 'service.name': 'interposer' }),
      readers: [exporter],
      views: [
        {
          instrumentType: InstrumentType.HISTOGRAM,
          aggregation: { type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM, options: { boundaries: DURATION_BUCKETS } },
        },
      ],
    });
    metrics.setGlobalMeterProvider(provider);
  }
  return provider.getMeter('interposer');
}

/** Answers a scrape in the Prometheus text format, or null when metrics are off. */
export function metricsHandler(): ((req: IncomingMessage, res: ServerResponse) => void) | null {
  const e = exporter;
  return e ? (req, res) => e.getMetricsRequestHandler(req, res) : null;
}

export async function stopMetrics(): Promise<void> {
  await provider?.shutdown();
  provider = undefined;
  exporter = undefined;
}
