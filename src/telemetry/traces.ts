// Where spans go: OTLP over HTTP or gRPC to a collector or Jaeger, and/or a
// local file with one JSON object per line. Export is batched off the request
// path; spans that cannot be delivered are dropped and counted.
import { appendFileSync } from 'node:fs';
import type { Tracer } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter as OtlpHttp } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpGrpc } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';

export interface TraceSinks {
  otlp?: { endpoint: string; protocol: 'http' | 'grpc' };
  file?: string;
}

export const spanCounts = { exported: 0, dropped: 0 };

/** One JSON object per span per line; the report command reads this format. */
class JsonLinesExporter implements SpanExporter {
  private readonly path: string;
  constructor(path: string) {
    this.path = path;
  }
  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    try {
      const lines = spans.map((s) =>
        JSON.stringify({
          name: s.name,
          traceId: s.spanContext().traceId,
          spanId: s.spanContext().spanId,
          parentSpanId: s.parentSpanContext?.spanId,
          startUs: s.startTime[0] * 1e6 + Math.round(s.startTime[1] / 1e3),
          durationUs: s.duration[0] * 1e6 + Math.round(s.duration[1] / 1e3),
          status: s.status.code === 2 ? 'error' : 'ok',
          attributes: s.attributes,
        }),
      );
      appendFileSync(this.path, `${lines.join('\n')}\n`);
      done({ code: ExportResultCode.SUCCESS });
    } catch (error) {
      done({ code: ExportResultCode.FAILED, error: error as Error });
    }
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** Counts what each export delivered or lost. */
class Counting implements SpanExporter {
  private readonly inner: SpanExporter;
  constructor(inner: SpanExporter) {
    this.inner = inner;
  }
  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    this.inner.export(spans, (r) => {
      if (r.code === ExportResultCode.SUCCESS) spanCounts.exported += spans.length;
      else spanCounts.dropped += spans.length;
      done(r);
    });
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

let provider: BasicTracerProvider | undefined;

export function startTracing(sinks: TraceSinks, serviceAttributes: Record<string, string>): Tracer {
  const exporters: SpanExporter[] = [];
  if (sinks.file) exporters.push(new JsonLinesExporter(sinks.file));
  if (sinks.otlp) {
    const url = sinks.otlp.endpoint;
    exporters.push(
      sinks.otlp.protocol === 'grpc'
        ? new OtlpGrpc({ url, timeoutMillis: 2000 })
        : new OtlpHttp({ url: url.endsWith('/v1/traces') ? url : `${url.replace(/\/$/, '')}/v1/traces`, timeoutMillis: 2000 }),
    );
  }
  provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'interposer', ...serviceAttributes }),
    spanProcessors: exporters.map(
      (e) => new BatchSpanProcessor(new Counting(e), { maxQueueSize: 8192, scheduledDelayMillis: 500, maxExportBatchSize: 512 }),
    ),
  });
  return provider.getTracer('interposer');
}

export async function stopTracing(): Promise<void> {
  await provider?.shutdown();
  provider = undefined;
}
