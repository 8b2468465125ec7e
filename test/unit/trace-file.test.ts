// The trace file through the real OpenTelemetry SDK: every span a line, in the order they ended,
// across batches and buffers, and nothing left behind when tracing stops.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { spanCounts } from '../../src/telemetry/running.ts';
import { startTracing, stopTracing } from '../../src/telemetry/traces.ts';

test('3,000 spans, some with long attributes, come out as 3,000 lines in order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'trace-file-'));
  try {
    const file = join(dir, 'spans.jsonl');
    const tracer = await startTracing({ file }, {});
    const before = spanCounts.file.exported;
    // Long paths (and a non-ASCII one) make the lines fill more than one 256 KiB buffer a batch.
    for (let i = 0; i < 3000; i++) {
      const span = tracer.startSpan(`op${i}`);
      span.setAttribute('fs.path', `/${i % 7 === 0 ? 'é'.repeat(300) : 'd'.repeat(i % 500)}/${i}`);
      span.end();
    }
    await stopTracing();
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 3000);
    lines.forEach((line, i) => {
      const span = JSON.parse(line) as { name: string; attributes: Record<string, string> };
      assert.equal(span.name, `op${i}`);
      assert.ok(span.attributes['fs.path']!.endsWith(`/${i}`));
    });
    assert.equal(spanCounts.file.exported - before, 3000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
