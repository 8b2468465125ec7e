// The metrics layer without a mount: what it counts, read back from an
// OpenTelemetry reader the test collects from.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Meter } from '@opentelemetry/api';
import { MeterProvider, MetricReader, type DataPoint, type HistogramMetricData } from '@opentelemetry/sdk-metrics';
import { createMemoryFs } from '../../src/backends/memory.ts';
import { validateConfig } from '../../src/config/load.ts';
import { buildLayers } from '../../src/layers/build.ts';
import { createMetricsLayer, isMetricsLayer } from '../../src/layers/metrics.ts';
import { createStack } from '../../src/layers/stack.ts';
import { DurationHistograms } from '../../src/telemetry/histograms.ts';
import { EACCES, ENOENT, FsError } from '../../src/vfs/errors.ts';
import type { OpContext, OpenResult, Vfs } from '../../src/vfs/types.ts';

const ctx: OpContext = { uid: 0, gid: 0, pid: process.pid, unique: 1 };

/** A reader that exports nowhere: the test asks it for what has been recorded. */
class CollectingReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** The value of counter `name` per value of label `by`. */
async function counterBy(reader: CollectingReader, name: string, by: string): Promise<Record<string, number>> {
  const { resourceMetrics } = await reader.collect();
  const out: Record<string, number> = {};
  for (const scope of resourceMetrics.scopeMetrics)
    for (const m of scope.metrics)
      if (m.descriptor.name === name)
        for (const p of m.dataPoints as DataPoint<number>[]) out[String(p.attributes[by])] = (out[String(p.attributes[by])] ?? 0) + p.value;
  return out;
}

test('bytes by direction: reads, writes, and copies (copy_file_range) counted once as copy', async () => {
  const reader = new CollectingReader();
  const provider = new MeterProvider({ readers: [reader] });
  try {
    const sink = sinkOf(provider);
    const stack = createStack(createMemoryFs({ sizeBytes: 1 << 24 }), [createMetricsLayer(sink, { volume: 'v' })]);
    const src = stack.create(ctx, '/src', 2, 0o644) as { fh: number };
    const dst = stack.create(ctx, '/dst', 2, 0o644) as { fh: number };
    assert.equal(stack.write(ctx, '/src', src.fh, Buffer.alloc(5000, 1), 0), 5000);
    assert.equal(stack.read(ctx, '/src', src.fh, Buffer.alloc(1000), 0), 1000);
    const copy = (offset: number, length: number, flags = 0): unknown =>
      stack.copyFileRange!(ctx, { path: '/src', fh: src.fh, offset }, { path: '/dst', fh: dst.fh, offset: 0 }, length, flags);
    assert.equal(copy(0, 3000), 3000);
    assert.equal(copy(4000, 3000), 1000, 'stops at the end of the source: the bytes copied count, not those asked for');
    assert.throws(() => copy(0, 10, 1), /EINVAL/);
    assert.deepEqual(await counterBy(reader, 'interposer_bytes', 'direction'), { read: 1000, write: 5000, copy: 3000 + 1000 });
    const ops = await counterBy(reader, 'interposer_operations', 'result');
    assert.equal(ops.EINVAL, 1, 'the failed copy is counted as an operation, with no bytes');
    const durations = (await sink.durations.collect()).resourceMetrics.scopeMetrics[0].metrics[0] as HistogramMetricData;
    const reads = durations.dataPoints.find((p) => p.attributes.op === 'read');
    assert.equal(reads?.value.count, 1, 'one read, one duration');
    assert.deepEqual(reads?.attributes, { volume: 'v', op: 'read' });
  } finally {
    await provider.shutdown();
  }
});

/** A backend whose opens offer a backing fd for kernel passthrough, as the passthrough backend's do as root. */
function backendOfferingPassthrough(): Vfs {
  const backend: Partial<Vfs> = {
    open: (): OpenResult => ({ fh: 7, backingFd: 7 }),
    read: (_c, _p, _fh, into) => into.length,
  };
  return backend as Vfs;
}

/** The layers of a config with one `layers` section, built with a meter the test reads back. */
function layersOf(reader: CollectingReader, provider: MeterProvider, layers: unknown[]) {
  const config = validateConfig({ layers, telemetry: { metrics: '127.0.0.1:9464' } });
  return buildLayers(config.layers, 0, { metrics: sinkOf(provider), labels: { volume: 'v' } });
}

/** A meter the test reads back, and the duration histograms the daemon keeps beside it. */
function sinkOf(provider: MeterProvider): { meter: Meter; durations: DurationHistograms } {
  const durations = new DurationHistograms({
    name: 'interposer_operation_duration_seconds',
    description: 'd',
    bounds: [0.001],
    scope: 'test',
  });
  return { meter: provider.getMeter('test'), durations };
}

test('failures are counted by errno whether the backend throws them or returns them, at once or later', async () => {
  const reader = new CollectingReader();
  const provider = new MeterProvider({ readers: [reader] });
  try {
    const memory = createMemoryFs({ sizeBytes: 1 << 20 });
    const backend: Vfs = {
      ...memory,
      getattr: (c, path, fh) => {
        if (path === '/thrown') throw new FsError(ENOENT);
        if (path === '/returned') return new FsError(ENOENT);
        if (path === '/later') return Promise.resolve(new FsError(EACCES));
        return memory.getattr(c, path, fh);
      },
    };
    const stack = createStack(backend, [createMetricsLayer(sinkOf(provider), { volume: 'v' })]);
    assert.ok(stack.getattr(ctx, '/returned') instanceof FsError, 'a returned failure is passed on as it is');
    assert.ok((await stack.getattr(ctx, '/later')) instanceof FsError);
    assert.throws(() => stack.getattr(ctx, '/thrown'), FsError);
    stack.getattr(ctx, '/');
    assert.deepEqual(await counterBy(reader, 'interposer_operations', 'result'), { ok: 1, ENOENT: 2, EACCES: 1 });
  } finally {
    await provider.shutdown();
  }
});

test('data: observe takes kernel passthrough away so reads are counted; data: kernel leaves it, and still counts opens', async () => {
  const reader = new CollectingReader();
  const provider = new MeterProvider({ readers: [reader] });
  try {
    const observe = createStack(backendOfferingPassthrough(), layersOf(reader, provider, [{ metrics: {} }]));
    assert.equal((observe.open(ctx, '/f', 0) as OpenResult).backingFd, undefined, 'the default is observe: the daemon serves the data');

    const kernel = layersOf(reader, provider, [{ metrics: { data: 'kernel' } }]);
    assert.ok(isMetricsLayer(kernel[0]) && kernel[0].data === 'kernel');
    const stack = createStack(backendOfferingPassthrough(), kernel);
    assert.equal((stack.open(ctx, '/f', 0) as OpenResult).backingFd, 7, 'the kernel may serve the data');
    const opens = await counterBy(reader, 'interposer_operations', 'op');
    assert.equal(opens.open, 2, 'opens are counted in both modes');

    const withLatency = createStack(
      backendOfferingPassthrough(),
      layersOf(reader, provider, [
        { metrics: { data: 'kernel' } },
        { latency: { rules: [{ ops: ['read'], paths: ['*.db'], delay: '1ms' }] } },
      ]),
    );
    assert.equal((withLatency.open(ctx, '/x.db', 0) as OpenResult).backingFd, undefined, 'a latency rule on reads still needs the data');
    assert.equal((withLatency.open(ctx, '/x.txt', 0) as OpenResult).backingFd, 7);
    assert.equal(await withLatency.read(ctx, '/x.db', 7, Buffer.alloc(100), 0), 100);
    assert.deepEqual(await counterBy(reader, 'interposer_bytes', 'direction'), { read: 100 }, 'reads that reach the layer are counted');
  } finally {
    await provider.shutdown();
  }
});
