// Traces as an operator receives them: spans from a live mount reach a real
// OpenTelemetry Collector (built with ocb by scripts/setup: OTLP receiver, OTLP
// HTTP/JSON exporter), which forwards them to a sink in this test. Checked:
// attributes, parent file spans, every filter switched at runtime with
// `interposer ctl trace`, OTLP over HTTP and gRPC, and a collector that is down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify as toYaml } from 'yaml';
import { CLI, NODE, ROOT, tempDir, withMount, withTempDir, writeConfig, type ConfigDoc } from '../helpers/mount.ts';
import { freePort, py, run, sh, stopProcess } from '../helpers/run.ts';

const COLLECTOR = join(ROOT, '.tools/bin/otelcol-interposer');
const NOBODY = 65534;

interface RxSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  durationUs: number;
  status: number;
  attrs: Record<string, unknown>;
  resource: Record<string, unknown>;
}

type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: AnyValue[] };
};
type KeyValue = { key: string; value: AnyValue };

function anyValue(v: AnyValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(anyValue);
  return undefined;
}
const attrs = (kvs: KeyValue[] | undefined): Record<string, unknown> =>
  Object.fromEntries((kvs ?? []).map((kv) => [kv.key, anyValue(kv.value)]));

interface Received {
  spans: RxSpan[];
  server: Server;
  port: number;
}

/** Where the collector forwards spans: OTLP/HTTP with JSON encoding, decoded here. */
async function startSink(): Promise<Received> {
  const rx: RxSpan[] = [];
  const server = createHttpServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      const doc = JSON.parse(body) as {
        resourceSpans: Array<{
          resource?: { attributes?: KeyValue[] };
          scopeSpans: Array<{
            spans: Array<{
              name: string;
              traceId: string;
              spanId: string;
              parentSpanId?: string;
              startTimeUnixNano: string;
              endTimeUnixNano: string;
              status?: { code?: number };
              attributes?: KeyValue[];
            }>;
          }>;
        }>;
      };
      for (const rs of doc.resourceSpans ?? []) {
        const resource = attrs(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            rx.push({
              name: s.name,
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId ?? '',
              durationUs: Number((BigInt(s.endTimeUnixNano) - BigInt(s.startTimeUnixNano)) / 1000n),
              status: s.status?.code ?? 0,
              attrs: attrs(s.attributes),
              resource,
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { spans: rx, server, port: (server.address() as { port: number }).port };
}

interface Collector {
  child: ChildProcess;
  http: number;
  grpc: number;
  exited: Promise<unknown>;
  log(): string;
}

async function startCollector(dir: string, sinkPort: number): Promise<Collector> {
  const [http, grpc] = [await freePort(), await freePort()];
  const config = join(dir, 'collector.yaml');
  writeFileSync(
    config,
    toYaml({
      receivers: { otlp: { protocols: { http: { endpoint: `127.0.0.1:${http}` }, grpc: { endpoint: `127.0.0.1:${grpc}` } } } },
      exporters: {
        otlphttp: {
          endpoint: `http://127.0.0.1:${sinkPort}`,
          encoding: 'json',
          compression: 'none',
          retry_on_failure: { enabled: false },
          sending_queue: { enabled: false },
        },
      },
      service: {
        telemetry: { metrics: { level: 'none' }, logs: { level: 'info' } },
        pipelines: { traces: { receivers: ['otlp'], exporters: ['otlphttp'] } },
      },
    }),
  );
  const logFile = join(dir, 'collector.log');
  const fd = openSync(logFile, 'w');
  const child = spawn(COLLECTOR, [`--config=${config}`], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const c: Collector = { child, http, grpc, exited: new Promise((r) => child.on('exit', r)), log: () => readFileSync(logFile, 'utf8') };
  const until = Date.now() + 20_000;
  while (!/Everything is ready/.test(c.log())) {
    if (Date.now() > until || child.exitCode !== null) {
      await stopProcess(c.child, c.exited);
      throw new Error(`collector did not start:\n${c.log()}`);
    }
    await sleep(100);
  }
  return c;
}

async function until<T>(what: string, get: () => T | undefined, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const ofPath = (rx: Received, prefix: string): RxSpan[] =>
  rx.spans.filter((s) => typeof s.attrs['fs.path'] === 'string' && (s.attrs['fs.path'] as string).startsWith(prefix) && s.attrs['fs.op']);
const find = (rx: Received, op: string, path: string): RxSpan | undefined =>
  rx.spans.find((s) => s.attrs['fs.op'] === op && s.attrs['fs.path'] === path);

function ctlTrace(mnt: string, filter: string): void {
  const r = run(NODE, [CLI, 'ctl', 'trace', mnt, filter]);
  assert.equal(r.status, 0, r.stderr);
}

/** Spans are exported in batches every 500 ms: after the marker arrived, give a later straggler time to show up. */
const settle = (): Promise<void> => sleep(1200);

test('spans reach a real OpenTelemetry Collector, with attributes, parents and runtime filters', async (t) => {
  assert.ok(existsSync(COLLECTOR), `${COLLECTOR} is missing: scripts/setup builds it with the collector builder (ocb)`);
  const dir = tempDir('otel');
  const rx = await startSink();
  let col: Collector | undefined;
  try {
    col = await startCollector(dir, rx.port);
    const config = (otlp: string, protocol: 'http' | 'grpc'): ConfigDoc => ({
      mount: { cache: 'direct', allowOther: true },
      layers: [
        { trace: {} },
        { fault: { rules: [{ name: 'log-full', ops: ['write'], paths: ['**/*.log'], errno: 'ENOSPC' }] } },
        { latency: { rules: [{ name: 'slow-fsync', ops: ['fsync'], paths: ['**/slow*'], delay: '60ms' }] } },
      ],
      telemetry: { traces: { otlp, protocol }, labels: { volume: `tv-${protocol}` } },
    });
    const cfg = writeConfig(dir, config(`http://127.0.0.1:${col.http}`, 'http'));
    await withMount(['--backend', 'memory', '--config', cfg], async (mnt) => {
      for (const d of ['d', 'p1', 'p2/keep', 'p2/drop', 'p3', 'p4', 'p5', 'p6', 'p7']) mkdirSync(join(mnt, d), { recursive: true });
      chmodSync(join(mnt, 'd'), 0o777);

      await t.test('attributes: op, path, process, user, offset, sizes, result, rules; file spans as parents', async () => {
        const out = py(
          [
            'import os',
            "fd = os.open('f', os.O_CREAT | os.O_WRONLY, 0o644)",
            "os.pwrite(fd, b'x' * 5000, 8192)",
            'os.fsync(fd)',
            'os.close(fd)',
            "fd = os.open('f', os.O_RDONLY)",
            'n = len(os.pread(fd, 100000, 0))',
            'os.close(fd)',
            'try:',
            "    fd = os.open('x.log', os.O_CREAT | os.O_WRONLY, 0o644)",
            "    os.write(fd, b'hello')",
            'except OSError as e:',
            '    err = e.errno',
            'print(os.getpid(), n, err)',
          ].join('\n'),
          { cwd: join(mnt, 'd'), uid: NOBODY, gid: NOBODY },
        );
        const [pid, n, err] = out.split(' ').map(Number);
        assert.equal(n, 13192);
        assert.equal(err, 28, 'ENOSPC');
        const w = await until('the write span', () => find(rx, 'write', '/d/f'));
        assert.deepEqual(
          { ...w.attrs, 'group.id': undefined },
          {
            'fs.op': 'write',
            'fs.path': '/d/f',
            'process.pid': pid,
            'process.command': 'python3',
            'user.id': NOBODY,
            'group.id': undefined,
            'fs.offset': 8192,
            'fs.size.requested': 5000,
            'fs.size.returned': 5000,
            'fs.result': 'ok',
          },
        );
        assert.equal(w.name, 'write');
        assert.equal(w.resource['service.name'], 'interposer');
        assert.equal(w.resource.volume, 'tv-http');
        const r = await until('the read span', () => find(rx, 'read', '/d/f'));
        assert.equal(r.attrs['fs.offset'], 0);
        assert.equal(r.attrs['fs.size.returned'], 13192);
        assert.ok((r.attrs['fs.size.requested'] as number) >= 13192);
        assert.ok(await until('the fsync span', () => find(rx, 'fsync', '/d/f')));
        const bad = await until('the failed write span', () => find(rx, 'write', '/d/x.log'));
        assert.equal(bad.attrs['fs.result'], 'ENOSPC');
        assert.deepEqual(bad.attrs['interposer.rules'], ['log-full']);
        assert.equal(bad.status, 2, 'status ERROR');
        assert.equal(bad.attrs['process.pid'], pid);
        // open -> write -> release: the write is a child of the file's span, in the same trace.
        const file = await until('the file span', () => rx.spans.find((s) => s.spanId === w.parentSpanId));
        assert.equal(file.name, 'file /d/f');
        assert.equal(file.traceId, w.traceId);
        assert.equal(file.attrs['process.pid'], pid);
      });

      await t.test('filter ops', async () => {
        ctlTrace(mnt, '{ops: [fsync]}');
        sh('echo a > p1/a && sync p1/a', { cwd: mnt }); // sync FILE is fsync(2)
        await until('fsync of /p1/a', () => find(rx, 'fsync', '/p1/a'));
        await settle();
        assert.deepEqual([...new Set(ofPath(rx, '/p1/').map((s) => s.attrs['fs.op']))], ['fsync']);
      });

      await t.test('filter paths', async () => {
        ctlTrace(mnt, '{paths: ["p2/keep/**"]}');
        sh('echo a > p2/drop/b && echo a > p2/keep/a', { cwd: mnt });
        await until('write of /p2/keep/a', () => find(rx, 'write', '/p2/keep/a'));
        await settle();
        assert.deepEqual(ofPath(rx, '/p2/drop/'), []);
      });

      await t.test('filter minDuration', async () => {
        ctlTrace(mnt, '{paths: ["p3/**"], minDuration: 30ms}');
        sh('echo a > p3/fast && sync p3/fast && echo a > p3/slow && sync p3/slow', { cwd: mnt });
        const slow = await until('fsync of /p3/slow', () => find(rx, 'fsync', '/p3/slow'));
        assert.deepEqual(slow.attrs['interposer.rules'], ['slow-fsync']);
        await settle();
        const got = ofPath(rx, '/p3/');
        assert.ok(
          got.every((s) => s.durationUs >= 30_000),
          JSON.stringify(got.map((s) => [s.name, s.durationUs])),
        );
        assert.equal(find(rx, 'fsync', '/p3/fast'), undefined);
      });

      await t.test('filter errorsOnly and injectedOnly', async () => {
        const ops = (p: string) =>
          `(cat ${p}/missing 2>/dev/null || true) && echo a > ${p}/ok && (echo a > ${p}/x.log) 2>/dev/null; echo b > ${p}/slow && sync ${p}/slow`;
        ctlTrace(mnt, '{paths: ["p4/**"], errorsOnly: true}');
        sh(ops('p4'), { cwd: mnt });
        await until('ENOSPC write in p4', () => find(rx, 'write', '/p4/x.log'));
        await settle();
        const errors = ofPath(rx, '/p4/');
        assert.ok(
          errors.every((s) => s.attrs['fs.result'] !== 'ok'),
          JSON.stringify(errors.map((s) => s.attrs)),
        );
        assert.ok(
          errors.some((s) => s.attrs['fs.result'] === 'ENOENT'),
          'real errors are kept',
        );

        ctlTrace(mnt, '{paths: ["p5/**"], injectedOnly: true}');
        sh(ops('p5'), { cwd: mnt });
        await until('ENOSPC write in p5', () => find(rx, 'write', '/p5/x.log'));
        await until('slow fsync in p5', () => find(rx, 'fsync', '/p5/slow'));
        await settle();
        const injected = ofPath(rx, '/p5/');
        assert.ok(
          injected.every((s) => Array.isArray(s.attrs['interposer.rules'])),
          JSON.stringify(injected.map((s) => s.attrs)),
        );
        assert.ok(!injected.some((s) => s.attrs['fs.result'] === 'ENOENT'), 'errors no rule made are left out');
      });

      await t.test('filter sample', async () => {
        ctlTrace(mnt, '{paths: ["p6/**"], ops: [write], sample: 0.5}');
        py("import os\nfd = os.open('p6/s', os.O_CREAT | os.O_WRONLY)\nfor i in range(400): os.write(fd, b'0123456789')\nos.close(fd)", {
          cwd: mnt,
        });
        ctlTrace(mnt, '{paths: ["p6/marker"]}');
        sh('touch p6/marker', { cwd: mnt });
        await until('the marker', () => rx.spans.find((s) => s.attrs['fs.path'] === '/p6/marker'));
        await settle();
        const n = ofPath(rx, '/p6/s').length;
        assert.ok(n >= 140 && n <= 260, `about half of 400 writes recorded: ${n}`);
      });

      await t.test('filter process', async () => {
        ctlTrace(mnt, '{paths: ["p7/**"], process: {comm: [dd]}}');
        sh('echo a > p7/by-sh && dd if=/dev/zero of=p7/by-dd bs=1k count=4 status=none', { cwd: mnt });
        await until('dd write', () => find(rx, 'write', '/p7/by-dd'));
        await settle();
        assert.ok(ofPath(rx, '/p7/').every((s) => s.attrs['process.command'] === 'dd'));
        ctlTrace(mnt, '{}');
      });
    });

    await t.test('OTLP over gRPC', async () => {
      writeConfig(dir, config(`http://127.0.0.1:${col!.grpc}`, 'grpc')); // the same file, rewritten
      await withMount(['--backend', 'memory', '--config', cfg], async (mnt) => {
        sh('echo grpc > g && mv g h', { cwd: mnt });
        const s = await until('a span over gRPC', () =>
          rx.spans.find((x) => x.resource.volume === 'tv-grpc' && x.attrs['fs.op'] === 'write' && x.attrs['fs.path'] === '/g'),
        );
        assert.equal(s.attrs['fs.size.returned'], 5);
        // A span is made after its op's reply, from what was taken when the op ended: both of a rename's paths.
        const mv = await until('the rename span', () =>
          rx.spans.find((x) => x.resource.volume === 'tv-grpc' && x.attrs['fs.op'] === 'rename'),
        );
        assert.equal(mv.attrs['fs.path'], '/g');
        assert.equal(mv.attrs['fs.path2'], '/h');
      });
    });
  } finally {
    if (col) await stopProcess(col.child, col.exited);
    rx.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with the collector down, operations succeed and dropped spans are counted', async () => {
  const [nobody, metrics] = [await freePort(), await freePort()];
  const args = ['--backend', 'memory', '--cache', 'direct', '--otlp', `http://127.0.0.1:${nobody}`, '--metrics', `127.0.0.1:${metrics}`];
  await withMount(args, async (mnt) => {
    const started = Date.now();
    sh('for i in $(seq 200); do echo $i > f$i; done; cat f200', { cwd: mnt });
    assert.equal(readFileSync(join(mnt, 'f123'), 'utf8'), '123\n');
    assert.ok(Date.now() - started < 60_000);
    const count = async (name: string): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
      const m = new RegExp(`^${name}\\{[^}]*sink="otlp"[^}]*\\} (\\d+)`, 'm').exec(text);
      return m ? Number(m[1]) : -1;
    };
    const end = Date.now() + 20_000;
    let dropped = 0;
    while ((dropped = await count('interposer_spans_dropped_total')) < 600 && Date.now() < end) await sleep(250);
    assert.ok(dropped >= 600, `at least create+write+flush+release of 200 files counted as dropped: ${dropped}`);
    assert.equal(await count('interposer_spans_exported_total'), 0);
  });
});

test('a trace file that cannot be written yet holds up no operation: its spans wait', async () => {
  // A FIFO nobody reads: opening it to append blocks, as a write to a stalled disk would.
  await withTempDir('fifo', async (dir) => {
    const fifo = join(dir, 'trace.fifo');
    run('mkfifo', [fifo]);
    await withMount(['--backend', 'memory', '--cache', 'direct', '--trace-file', fifo], async (mnt) => {
      // 600 lookups: a batch of 512 spans is full, and goes to the file, while they run.
      const lookups = spawn('python3', ['-c', "import os\nfor i in range(600): os.path.exists('n%d' % i)"], { cwd: mnt, stdio: 'ignore' });
      const exited = once(lookups, 'exit');
      let timer: NodeJS.Timeout | undefined;
      const answered = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(r, 60_000, false)))]);
      clearTimeout(timer);
      // A reader now: the waiting spans come out (and a daemon stuck opening the file would be let go).
      const spans = readFileSync(fifo, 'utf8');
      await exited;
      assert.ok(answered, 'every lookup answered while the trace file could not be opened');
      assert.match(spans, /"fs\.path":"\/n0"/);
    });
  });
});
