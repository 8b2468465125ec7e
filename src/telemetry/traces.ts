// Where spans go: OTLP over HTTP or gRPC to a collector or Jaeger, and/or a
// local file with one JSON object per line. Export is batched off the request
// path; spans that cannot be delivered are dropped and counted.
import { accessSync, appendFile, constants, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Tracer } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ConfigError } from '../config/load.ts';
import { log } from '../util/log.ts';
import { onFlush, setTraceSinks, spanCounts, type SinkName } from './running.ts';
import type { Context } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type Span,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { ownFileMode } from '../util/umask.ts';

export interface TraceSinks {
  otlp?: { endpoint: string; protocol: 'http' | 'grpc' };
  file?: string;
}

/** Spans waiting for export per sink; beyond this, new spans are dropped (and counted). */
const MAX_QUEUE = 8192;

/** Throws as writing `file` would (without creating it: the mount may yet be refused). */
function checkWritable(file: string): void {
  const st = statSync(file, { throwIfNoEntry: false });
  if (st?.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
  accessSync(st ? file : dirname(file), constants.W_OK);
}

/** A span as one line of the trace file; the report command reads this format. */
function spanLine(s: ReadableSpan): string {
  return JSON.stringify({
    name: s.name,
    traceId: s.spanContext().traceId,
    spanId: s.spanContext().spanId,
    parentSpanId: s.parentSpanContext?.spanId,
    startUs: s.startTime[0] * 1e6 + Math.round(s.startTime[1] / 1e3),
    durationUs: s.duration[0] * 1e6 + Math.round(s.duration[1] / 1e3),
    status: s.status.code === 2 ? 'error' : 'ok',
    attributes: s.attributes,
  });
}

/**
 * One JSON object per span per line, appended off the request thread: a trace file on a slow or
 * stalled disk must not hold up the mount (spans then wait, and beyond MAX_QUEUE are dropped and
 * counted). One append in flight at a time keeps the lines in order; batches that come meanwhile
 * go out together. The file is opened for each append, so a rotated trace file is created again.
 */
class JsonLinesExporter implements SpanExporter {
  private readonly path: string;
  /** Whether the last export failed: warned once a run of failures. */
  private failed = false;
  private writing = false;
  private waiting: Array<{ text: string; done: (r: ExportResult) => void }> = [];
  private idle: Array<() => void> = [];
  constructor(path: string) {
    this.path = path;
  }
  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    this.waiting.push({ text: `${spans.map(spanLine).join('\n')}\n`, done });
    if (!this.writing) this.writeWaiting();
  }
  private writeWaiting(): void {
    const batches = this.waiting;
    this.waiting = [];
    this.writing = true;
    appendFile(this.path, batches.map((b) => b.text).join(''), { mode: ownFileMode() }, (error) => {
      if (error) {
        if (!this.failed) log.warn({ err: error, file: this.path }, 'cannot write spans to the trace file; dropping them (counted)');
        this.failed = true;
      } else this.failed = false;
      for (const b of batches) b.done(error ? { code: ExportResultCode.FAILED, error } : { code: ExportResultCode.SUCCESS });
      if (this.waiting.length > 0) return this.writeWaiting();
      this.writing = false;
      for (const resolve of this.idle.splice(0)) resolve();
    });
  }
  shutdown(): Promise<void> {
    return this.writing ? new Promise((resolve) => this.idle.push(resolve)) : Promise.resolve();
  }
}

/** Counts what each export delivered or lost. */
class Counting implements SpanExporter {
  private readonly inner: SpanExporter;
  private readonly counts: { exported: number; dropped: number };
  /** Spans queued or being exported. */
  pending = 0;
  constructor(inner: SpanExporter, sink: SinkName) {
    this.inner = inner;
    this.counts = spanCounts[sink];
  }
  export(spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    this.inner.export(spans, (r) => {
      this.pending = Math.max(0, this.pending - spans.length);
      if (r.code === ExportResultCode.SUCCESS) this.counts.exported += spans.length;
      else this.counts.dropped += spans.length;
      done(r);
    });
  }
  dropOne(): void {
    this.counts.dropped++;
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

/**
 * In front of a BatchSpanProcessor: refuses spans while MAX_QUEUE are waiting,
 * counting them as dropped (the batch processor would drop them silently).
 */
class Bounded implements SpanProcessor {
  private readonly inner: SpanProcessor;
  private readonly exporter: Counting;
  constructor(exporter: Counting) {
    this.exporter = exporter;
    this.inner = new BatchSpanProcessor(exporter, { maxQueueSize: MAX_QUEUE * 2, scheduledDelayMillis: 500, maxExportBatchSize: 512 });
  }
  onStart(span: Span, parent: Context): void {
    this.inner.onStart(span, parent);
  }
  onEnd(span: ReadableSpan): void {
    if (this.exporter.pending >= MAX_QUEUE) return this.exporter.dropOne();
    this.exporter.pending++;
    this.inner.onEnd(span);
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

let provider: BasicTracerProvider | undefined;

/**
 * The OTLP exporter for `sink`'s protocol, imported only by a mount that sends spans to a collector:
 * each costs a daemon ~40 ms to load and ~1.5 MiB, which a mount tracing to a file need not pay.
 */
async function otlpExporter(sink: NonNullable<TraceSinks['otlp']>): Promise<SpanExporter> {
  const url = sink.endpoint;
  if (sink.protocol === 'grpc') {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-grpc');
    return new OTLPTraceExporter({ url, timeoutMillis: 2000 });
  }
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
  return new OTLPTraceExporter({ url: url.endsWith('/v1/traces') ? url : `${url.replace(/\/$/, '')}/v1/traces`, timeoutMillis: 2000 });
}

export async function startTracing(sinks: TraceSinks, serviceAttributes: Record<string, string>): Promise<Tracer> {
  const exporters: Counting[] = [];
  if (sinks.file) {
    try {
      checkWritable(sinks.file);
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new ConfigError(
        `cannot write the trace file ${sinks.file}: ${why}; expected a file in an existing directory this process may write`,
      );
    }
    exporters.push(new Counting(new JsonLinesExporter(sinks.file), 'file'));
  }
  if (sinks.otlp) exporters.push(new Counting(await otlpExporter(sinks.otlp), 'otlp'));
  setTraceSinks([...(sinks.file ? ['file' as const] : []), ...(sinks.otlp ? ['otlp' as const] : [])]);
  provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'interposer', ...serviceAttributes }),
    spanProcessors: exporters.map((e) => new Bounded(e)),
  });
  onFlush(stopTracing);
  return provider.getTracer('interposer');
}

export async function stopTracing(): Promise<void> {
  await provider?.shutdown();
  provider = undefined;
  setTraceSinks([]);
}
