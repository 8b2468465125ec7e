// The access-pattern report from known operations: every number checked by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyse, dirOf, percentile, sequentiality } from '../../src/report/analyse.ts';
import { parseSpanLine, parseTraceText, type OpRecord } from '../../src/report/read.ts';
import { renderHtml } from '../../src/report/render-html.ts';
import { renderText } from '../../src/report/render-text.ts';

let clock = 1_700_000_000_000_000;
function op(o: Partial<OpRecord> & { op: string; path: string }): OpRecord {
  clock += 1000;
  return { pid: 100, command: 'app', result: 'ok', startUs: clock, durationUs: 10, ...o };
}
const rd = (path: string, offset: number, size: number, extra: Partial<OpRecord> = {}): OpRecord =>
  op({ op: 'read', path, offset, requested: size, returned: size, ...extra });
const wr = (path: string, offset: number, size: number, extra: Partial<OpRecord> = {}): OpRecord =>
  op({ op: 'write', path, offset, requested: size, returned: size, ...extra });

test('percentile is nearest-rank', () => {
  const v = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(v, 50), 50);
  assert.equal(percentile(v, 90), 90);
  assert.equal(percentile(v, 99), 99);
  assert.equal(percentile(v, 100), 100);
  assert.equal(percentile([7], 99), 7);
  assert.equal(percentile([], 50), 0);
});

test('dirOf', () => {
  assert.equal(dirOf('/a/b/c'), '/a/b');
  assert.equal(dirOf('/a'), '/');
  assert.equal(dirOf('/'), '/');
});

test('an I/O is sequential when it starts where the previous read or write of the file ended', () => {
  const ops = [
    wr('/f', 0, 4096), // first, at 0: sequential
    wr('/f', 4096, 4096), // sequential
    wr('/f', 100_000, 10), // random
    rd('/f', 100_010, 5), // follows the write: sequential
    rd('/g', 512, 512), // first, not at 0: random
    rd('/g', 1024, 100, { returned: 50 }), // sequential
    rd('/g', 1074, 10), // ends where the short read ended: sequential
  ];
  const s = sequentiality(ops);
  assert.deepEqual(s.get('/f'), { read: [1, 0], write: [2, 1] });
  assert.deepEqual(s.get('/g'), { read: [2, 1], write: [0, 0] });
});

test('analyse: op mix, sizes, read/write ratio, hot files, processes, latency, fsync, errors, injected', () => {
  const ops: OpRecord[] = [
    op({ op: 'create', path: '/d/a' }),
    wr('/d/a', 0, 1 << 20, { durationUs: 100 }),
    wr('/d/a', 1 << 20, 1 << 20, { durationUs: 300 }),
    op({ op: 'fsync', path: '/d/a', durationUs: 5000 }),
    rd('/d/b', 0, 4096, { pid: 200, command: 'cat', durationUs: 20 }),
    rd('/d/b', 4096, 4096, { pid: 200, command: 'cat', durationUs: 40 }),
    rd('/x', 0, 4096, { pid: 200, command: 'cat', returned: 0 }),
    op({ op: 'getattr', path: '/nope', result: 'ENOENT' }),
    wr('/d/a', 0, 10, { result: 'ENOSPC', rules: ['full-disk'], returned: undefined }),
    rd('/d/b', 0, 10, { rules: ['slow'] }),
    op({ op: 'mkdir', path: '/d' }),
  ];
  const r = analyse(ops, { source: 'unit' });
  assert.equal(r.totals.ops, 11);
  assert.equal(r.totals.errors, 2);
  assert.equal(r.totals.injected, 2);
  assert.equal(r.totals.filesCreated, 1);
  assert.equal(r.totals.directoriesCreated, 1);
  assert.equal(r.totals.processes, 2);
  assert.equal(r.totals.dataFiles, 3);
  assert.deepEqual(
    r.opMix.map((m) => [m.op, m.count, m.errors]),
    [
      ['read', 4, 0],
      ['write', 3, 1],
      ['create', 1, 0],
      ['fsync', 1, 0],
      ['getattr', 1, 1],
      ['mkdir', 1, 0],
    ],
  );
  assert.equal(r.readWrite.reads, 4);
  assert.equal(r.readWrite.writes, 3);
  assert.equal(r.readWrite.bytesWritten, 2 << 20, 'the failed write moved nothing');
  assert.equal(r.readWrite.bytesRead, 8192 + 10);
  assert.equal(r.readWrite.readOpsShare, 4 / 7);
  // Sizes: 10 B (2), 4 KiB (3), 1 MiB (2).
  const sizes = Object.fromEntries(r.ioSizes.map((b) => [b.label, [b.read, b.write]]));
  assert.deepEqual(sizes['≤512B'], [1, 1]);
  assert.deepEqual(sizes['≤4KiB'], [3, 0]);
  assert.deepEqual(sizes['≤1MiB'], [0, 2]);
  assert.equal(r.ioSizes[0].label, '≤512B', 'empty buckets at the ends are dropped');
  assert.equal(r.ioSizes.at(-1)!.label, '≤1MiB');

  assert.equal(r.hottestFiles[0].path, '/d/a');
  assert.equal(r.hottestFiles[0].ops, 5);
  assert.equal(r.hottestFiles[0].bytesWritten, 2 << 20);
  assert.ok(!r.hottestFiles.some((f) => f.path === '/d'), 'directories are not files');
  assert.equal(r.hottestDirectories[0].path, '/d');
  assert.deepEqual(
    r.processes.map((p) => [p.pid, p.command, p.ops, p.reads, p.writes, p.fsyncs, p.errors]),
    [
      [100, 'app', 8, 1, 3, 1, 2],
      [200, 'cat', 3, 3, 0, 0, 0],
    ],
  );

  const w = r.latency.find((l) => l.op === 'write')!;
  assert.deepEqual([w.count, w.p50Us, w.maxUs], [3, 100, 300]);
  const rl = r.latency.find((l) => l.op === 'read')!;
  assert.deepEqual([rl.p50Us, rl.p90Us, rl.p99Us, rl.maxUs], [10, 40, 40, 40]);

  assert.equal(r.fsync.fsyncs, 1);
  assert.equal(r.fsync.perWrittenMiB, 0.5);
  assert.ok(r.fsync.perSecond! > 0);
  assert.deepEqual(r.fsync.files, [{ path: '/d/a', fsyncs: 1 }]);

  assert.deepEqual(
    r.errors.map((e) => [e.op, e.result, e.count, e.injected]),
    [
      ['getattr', 'ENOENT', 1, 0],
      ['write', 'ENOSPC', 1, 1],
    ],
  );
  assert.deepEqual(r.injected, [
    { rule: 'full-disk', count: 1, results: { ENOSPC: 1 } },
    { rule: 'slow', count: 1, results: { ok: 1 } },
  ]);
  assert.equal(
    r.timeline.buckets.reduce((a, b) => a + b.ops, 0),
    11,
  );
  assert.equal(r.window.startUs, ops[0].startUs);
});

test('parse: op spans, parent file spans skipped, malformed lines counted', () => {
  const line = JSON.stringify({
    name: 'write',
    traceId: 'a',
    spanId: 'b',
    startUs: 5,
    durationUs: 7,
    status: 'error',
    attributes: {
      'fs.op': 'write',
      'fs.path': '/p',
      'process.pid': 9,
      'process.command': 'dd',
      'user.id': 0,
      'fs.offset': 4096,
      'fs.size.requested': 512,
      'fs.result': 'EIO',
      'interposer.rules': ['r1'],
    },
  });
  assert.deepEqual(parseSpanLine(line), {
    op: 'write',
    path: '/p',
    pid: 9,
    command: 'dd',
    uid: 0,
    offset: 4096,
    requested: 512,
    result: 'EIO',
    rules: ['r1'],
    startUs: 5,
    durationUs: 7,
  });
  const parent = JSON.stringify({ name: 'file /p', startUs: 1, durationUs: 9, attributes: { 'fs.path': '/p', 'process.pid': 9 } });
  const stats = { lines: 0, malformed: 0, other: 0 };
  const ops = parseTraceText(`${line}\n${parent}\n{"name":"wri\n\n`, stats);
  assert.equal(ops.length, 1);
  assert.deepEqual(stats, { lines: 3, malformed: 1, other: 1 });
});

test('renderers: text has every section; HTML is self-contained and escapes paths', () => {
  const ops = [
    op({ op: 'create', path: '/<script>alert(1)</script>' }),
    wr('/<script>alert(1)</script>', 0, 100),
    op({ op: 'fsync', path: '/a&b' }),
  ];
  const r = analyse(ops, { source: 'x"y' });
  const text = renderText(r);
  for (const s of [
    'Operation mix',
    'Reads and writes',
    'I/O sizes',
    'Sequential vs random',
    'Hottest files',
    'Hottest directories',
    'Processes',
    'Latency per operation',
    'fsync',
    'Errors',
    'Rules that acted',
  ]) {
    assert.match(text, new RegExp(s.replace(/[/()]/g, '\\$&')));
  }
  const html = renderHtml(r);
  assert.ok(!html.includes('<script'), 'no scripts, and a path is never markup');
  assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.ok(!/(src|href)=["']?(https?:)?\/\//.test(html), 'nothing fetched from elsewhere');
  assert.ok((html.match(/<svg /g) ?? []).length >= 6, 'charts are inline SVG');
  assert.match(html, /^<!doctype html>/);

  const empty = analyse([], { source: 'nothing' });
  assert.match(renderText(empty), /holds no operations/);
  assert.match(renderHtml(empty), /holds no operations/);
});
