// The trace file through the real OpenTelemetry SDK: every span a line, in the order they ended,
// across batches and buffers, nothing left behind when tracing stops, and what cannot be written counted.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { spanCounts } from '../../src/telemetry/running.ts';
import { startTracing, stopTracing } from '../../src/telemetry/traces.ts';
import { waitFor, withTempDir } from '../helpers/mount.ts';

test('3,000 spans, some with long attributes, come out as 3,000 lines in order', async () => {
  await withTempDir('trace-file', async (dir) => {
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
  });
});

test('spans that cannot be written are counted as dropped, and the file is written again once it can be', async () => {
  await withTempDir('trace-file', async (dir) => {
    const sub = join(dir, 'gone');
    mkdirSync(sub);
    const file = join(sub, 'spans.jsonl');
    const tracer = await startTracing({ file }, {});
    const make = (n: number, from: number): void => {
      for (let i = 0; i < n; i++) tracer.startSpan(`op${from + i}`).end();
    };
    const { exported, dropped } = spanCounts.file;
    make(512, 0); // a whole batch: appended at once
    await waitFor(() => spanCounts.file.exported - exported === 512, 10_000, 'the first batch written');
    rmSync(sub, { recursive: true });
    make(512, 512); // its append fails: no such directory
    await waitFor(() => spanCounts.file.dropped - dropped === 512, 10_000, 'the second batch dropped');
    mkdirSync(sub);
    make(10, 1024);
    await stopTracing();
    assert.equal(spanCounts.file.exported - exported, 522);
    assert.equal(spanCounts.file.dropped - dropped, 512);
    const names = readFileSync(file, 'utf8')
      .trimEnd()
      .split('\n')
      .map((line) => (JSON.parse(line) as { name: string }).name);
    assert.deepEqual(
      names,
      Array.from({ length: 10 }, (_, i) => `op${1024 + i}`),
      'the new file holds the spans made after it could be written',
    );
  });
});

test('a trace file that cannot be opened yet holds 8,192 spans; later ones are dropped and counted', async () => {
  await withTempDir('trace-file', async (dir) => {
    // A FIFO nobody reads: opening it to append blocks, as a write to a stalled disk would.
    const fifo = join(dir, 'spans.fifo');
    execFileSync('mkfifo', [fifo]);
    const tracer = await startTracing({ file: fifo }, {});
    const { exported, dropped } = spanCounts.file;
    for (let i = 0; i < 9000; i++) tracer.startSpan(`op${i}`).end();
    assert.equal(spanCounts.file.dropped - dropped, 9000 - 8192);
    // A reader lets the waiting lines out. It holds the FIFO open for writing too, so that it sees no end
    // of file between two appends (each opens the file anew).
    const reader = spawn('sh', ['-c', 'exec 3<>"$0"; exec cat <&3', fifo], { stdio: ['ignore', 'pipe', 'inherit'] });
    let lines = 0;
    reader.stdout.on('data', (b: Buffer) => (lines += b.toString().split('\n').length - 1));
    try {
      await stopTracing();
      await waitFor(() => lines >= 8192, 10_000, 'the waiting lines read from the FIFO');
    } finally {
      reader.kill();
      await once(reader, 'exit');
    }
    assert.equal(spanCounts.file.exported - exported, 8192);
    assert.equal(lines, 8192);
  });
});
