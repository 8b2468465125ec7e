// Where spans go: OTLP over HTTP or gRPC to a collector or Jaeger, and/or a
// local file with one JSON object per line. Export is batched off the request
// path; spans that cannot be delivered are dropped and counted.
import { accessSync, appendFile, constants, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Context, Tracer } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ConfigError } from '../config/load.ts';
import { log } from '../util/log.ts';
import { onFlush, setTraceSinks, spanCounts } from './running.ts';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type Span,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { ownFileMode } from '../util/umask.ts';
import { runIdleTasks } from '../util/idle-tasks.ts';

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

/** Spans in a batch that goes to the trace file at once, and how long fewer wait for more. */
const FILE_BATCH = 512;
const FILE_DELAY_MS = 500;
/** Lines are copied into buffers of this size (at least), reused once written. */
const CHUNK_BYTES = 256 * 1024;

/**
 * The trace file: one JSON object per span per line, appended off the request thread. Each span
 * becomes its line as it ends, copied into an off-heap buffer: a span object kept until its batch was
 * exported outlived V8's young generation, so that every collection copied the spans waiting and
 * promoted them, and the old generation filled with them (bench/RESULTS.md item 72); a line in a
 * buffer costs the collector nothing. A trace file on a slow or stalled disk must not hold up the
 * mount: lines then wait, and beyond MAX_QUEUE spans are dropped and counted. One append in flight
 * at a time keeps the lines in order. The file is opened for each append, so a rotated trace file is
 * created again.
 */
class JsonLinesFile implements SpanProcessor {
  private readonly path: string;
  private readonly counts = spanCounts.file;
  /** Filled parts of buffers, waiting for the next append; then the buffer being filled. */
  private filled: Buffer[] = [];
  private chunk: Buffer | null = null;
  private used = 0;
  private readonly spare: Buffer[] = [];
  /** Lines waiting for an append, and lines in the append in flight (0: none in flight). */
  private waiting = 0;
  private writing = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Whether the last append failed: warned once a run of failures. */
  private failed = false;
  /** Resolved once every line taken so far is written (or failed). */
  private flushed: Array<() => void> = [];

  constructor(path: string) {
    this.path = path;
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if (this.waiting + this.writing >= MAX_QUEUE) {
      this.counts.dropped++;
      return;
    }
    this.copy(`${spanLine(span)}\n`);
    this.waiting++;
    if (this.writing > 0) return;
    if (this.waiting >= FILE_BATCH) this.append();
    else this.timer ??= setTimeout(() => this.append(), FILE_DELAY_MS).unref();
  }

  forceFlush(): Promise<void> {
    if (this.waiting + this.writing === 0) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.flushed.push(resolve));
    this.append();
    return done;
  }

  shutdown(): Promise<void> {
    return this.forceFlush();
  }

  private copy(line: string): void {
    // A UTF-16 unit takes at most three bytes in UTF-8.
    const most = line.length * 3;
    if (this.chunk === null || this.used + most > this.chunk.length) {
      this.takeChunk();
      const reused = this.spare.pop();
      this.chunk = reused && reused.length >= most ? reused : Buffer.allocUnsafe(Math.max(CHUNK_BYTES, most));
    }
    this.used += this.chunk.write(line, this.used);
  }

  /** Moves the buffer being filled (a line is copied as soon as a buffer is taken: never empty) to the filled ones. */
  private takeChunk(): void {
    if (this.chunk !== null) this.filled.push(this.chunk.subarray(0, this.used));
    this.chunk = null;
    this.used = 0;
  }

  private append(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.writing > 0 || this.waiting === 0) return;
    this.takeChunk();
    const parts = this.filled;
    this.filled = [];
    this.writing = this.waiting;
    this.waiting = 0;
    const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    appendFile(this.path, data, { mode: ownFileMode() }, (error) => {
      if (error) {
        if (!this.failed) log.warn({ err: error, file: this.path }, 'cannot write spans to the trace file; dropping them (counted)');
        this.counts.dropped += this.writing;
      } else this.counts.exported += this.writing;
      this.failed = error !== null;
      this.writing = 0;
      // A chunk has its ArrayBuffer to itself (allocUnsafe above the pool's size); two are enough to keep.
      for (const part of parts) if (this.spare.length < 2) this.spare.push(Buffer.from(part.buffer));
      if (this.waiting >= FILE_BATCH || (this.waiting > 0 && this.flushed.length > 0)) return this.append();
      if (this.waiting > 0) this.timer ??= setTimeout(() => this.append(), FILE_DELAY_MS).unref();
      else for (const resolve of this.flushed.splice(0)) resolve();
    });
  }
}

/**
 * Spans to a collector, through the SDK's batch processor, counted: what each export delivered or
 * lost, and spans refused while MAX_QUEUE wait (the batch processor would drop them silently).
 */
class CountedBatches implements SpanProcessor {
  private readonly counts = spanCounts.otlp;
  private readonly inner: BatchSpanProcessor;
  /** Spans queued or being exported. */
  private pending = 0;
  constructor(exporter: SpanExporter) {
    const counted: SpanExporter = {
      export: (spans, done) =>
        exporter.export(spans, (r) => {
          this.pending = Math.max(0, this.pending - spans.length);
          if (r.code === ExportResultCode.SUCCESS) this.counts.exported += spans.length;
          else this.counts.dropped += spans.length;
          done(r);
        }),
      shutdown: () => exporter.shutdown(),
    };
    this.inner = new BatchSpanProcessor(counted, { maxQueueSize: MAX_QUEUE * 2, scheduledDelayMillis: 500, maxExportBatchSize: 512 });
  }
  onStart(span: Span, parent: Context): void {
    this.inner.onStart(span, parent);
  }
  onEnd(span: ReadableSpan): void {
    if (this.pending >= MAX_QUEUE) {
      this.counts.dropped++;
      return;
    }
    this.pending++;
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
  const processors: SpanProcessor[] = [];
  if (sinks.file) {
    try {
      checkWritable(sinks.file);
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new ConfigError(
        `cannot write the trace file ${sinks.file}: ${why}; expected a file in an existing directory this process may write`,
      );
    }
    processors.push(new JsonLinesFile(sinks.file));
  }
  if (sinks.otlp) processors.push(new CountedBatches(await otlpExporter(sinks.otlp)));
  setTraceSinks([...(sinks.file ? ['file' as const] : []), ...(sinks.otlp ? ['otlp' as const] : [])]);
  provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'interposer', ...serviceAttributes }),
    spanProcessors: processors,
  });
  onFlush(stopTracing);
  return provider.getTracer('interposer');
}

export async function stopTracing(): Promise<void> {
  runIdleTasks(); // spans of ops already answered, not made yet
  await provider?.shutdown();
  provider = undefined;
  setTraceSinks([]);
}
