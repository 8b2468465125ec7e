// The metrics layer without a mount: what it counts, read back from an
// OpenTelemetry reader the test collects from.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MeterProvider, MetricReader, type DataPoint } from '@opentelemetry/sdk-metrics';
import { createMemoryFs } from '../../src/backends/memory.ts';
import { createMetricsLayer } from '../../src/layers/metrics.ts';
import { createStack } from '../../src/layers/stack.ts';
import type { OpContext } from '../../src/vfs/types.ts';

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
    const stack = createStack(createMemoryFs({ sizeBytes: 1 << 24 }), [createMetricsLayer(provider.getMeter('test'), { volume: 'v' })]);
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
  } finally {
    await provider.shutdown();
  }
});
