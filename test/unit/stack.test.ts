// The layer stack over a recording backend, and the fault, latency and
// throttle layers called through it without a mount.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createStack, type KernelShortcut, type Layer, type StackVfs } from '../../src/layers/stack.ts';
import { makeOp, type Op } from '../../src/layers/op.ts';
import { createFaultLayer } from '../../src/layers/fault.ts';
import { createLatencyLayer } from '../../src/layers/latency.ts';
import { Buckets, createThrottleLayer, TokenBucket } from '../../src/layers/throttle.ts';
import { validateConfig } from '../../src/config/load.ts';
import { E, FsError } from '../../src/vfs/errors.ts';
import { settled } from '../../src/vfs/answer.ts';
import type { Attr, OpContext, OpenResult, StatFs, Vfs } from '../../src/vfs/types.ts';

import { FILE_ATTR } from '../fixtures/attr.ts';
import { code, fails } from '../helpers/vfs.ts';
const ctx: OpContext = { uid: 0, gid: 0, pid: process.pid, unique: 1 };
const STATFS: StatFs = { blocks: 1000, bfree: 500, bavail: 500, files: 100, ffree: 50, bsize: 4096, namelen: 255, frsize: 4096 };

/** A backend that logs each call and serves a file of bytes 0..255 repeated. */
function recorder(log: string[], o: { async?: boolean } = {}): Vfs {
  const answer = <T>(v: T): T | Promise<T> => (o.async ? Promise.resolve(v) : v);
  const backend: Partial<Vfs> = {
    getattr: (_c, path) => (log.push(`backend getattr ${path}`), answer({ ...FILE_ATTR })),
    open: (_c, path) => (log.push(`backend open ${path}`), answer({ fh: 7, backingFd: 7 })),
    create: (_c, path) => (log.push(`backend create ${path}`), answer({ fh: 8, backingFd: 8, attr: { ...FILE_ATTR } })),
    read: (_c, path, _fh, into, offset) => {
      log.push(`backend read ${path} ${into.length}@${offset}`);
      for (let i = 0; i < into.length; i++) into[i] = (offset + i) & 0xff;
      return answer(into.length);
    },
    write: (_c, path, _fh, data, offset) => (log.push(`backend write ${path} ${data.toString()}@${offset}`), answer(data.length)),
    fsync: (_c, path) => (log.push(`backend fsync ${path}`), answer(undefined)),
    statfs: () => answer({ ...STATFS }),
  };
  return backend as Vfs;
}

function tracer(kind: string, log: string[], disturbs = false, extra: Partial<Layer> = {}): Layer {
  return {
    kind,
    disturbs,
    around(op, next) {
      log.push(`${kind} in ${op.name}`);
      const r = next();
      const done = (v: unknown): unknown => (log.push(`${kind} out ${op.name}`), v);
      return r instanceof Promise ? r.then(done) : done(r);
    },
    ...extra,
  };
}

const fail = (errno: string) => (e: unknown) => e instanceof FsError && e.errno === E[errno];

describe('stack', () => {
  test('layers run outermost first, around the backend', async () => {
    for (const async of [false, true]) {
      const log: string[] = [];
      const s = createStack(recorder(log, { async }), [tracer('a', log), tracer('b', log), tracer('c', log)]);
      await s.getattr(ctx, '/f');
      assert.deepEqual(log, [
        'a in getattr',
        'b in getattr',
        'c in getattr',
        'backend getattr /f',
        'c out getattr',
        'b out getattr',
        'a out getattr',
      ]);
    }
  });

  test('without layers the backend is called directly', () => {
    const log: string[] = [];
    const s = createStack(recorder(log), []);
    assert.deepEqual(s.open(ctx, '/f', 0), { fh: 7, backingFd: 7 });
    assert.deepEqual(log, ['backend open /f']);
  });

  test('getattrBelow goes to the backend past every layer, which neither sees nor fails it', () => {
    const log: string[] = [];
    const failing: Layer = { kind: 'fault', disturbs: true, around: () => new FsError(E.EIO) };
    const s = createStack(recorder(log), [tracer('a', log), failing]);
    assert.deepEqual(s.getattrBelow!(ctx, '/f', 3), FILE_ATTR);
    assert.deepEqual(log, ['backend getattr /f']);
    assert.equal(
      code(() => s.getattr(ctx, '/f', 3)),
      'EIO',
      'the same getattr as an op meets the layers',
    );
  });

  test('every argument reaches the backend, with layers or without; a layer sees those the caller gave', () => {
    const got: unknown[][] = [];
    const backend = {
      ...recorder([]),
      fallocate: (_c: OpContext, ...args: unknown[]) => void got.push(args),
      getattr: (_c: OpContext, ...args: unknown[]) => (got.push(args), { ...FILE_ATTR }),
    } as Vfs;
    const seen: unknown[][] = [];
    const watcher: Layer = { kind: 'watch', disturbs: false, around: (op, next) => (seen.push([...op.args]), next()) };
    for (const layers of [[], [watcher]]) {
      got.length = 0;
      const s = createStack(backend, layers);
      s.fallocate!(ctx, '/f', 3, 1, 4096, 8192); // the most arguments an op takes
      s.getattr(ctx, '/f');
      s.getattr(ctx, '/f', 3);
      assert.deepEqual(
        got.map((a) => a.slice(0, a.findLastIndex((x) => x !== undefined) + 1)),
        [['/f', 3, 1, 4096, 8192], ['/f'], ['/f', 3]],
      );
    }
    assert.deepEqual(seen, [['/f', 3, 1, 4096, 8192], ['/f'], ['/f', 3]], 'the layer: no trailing arguments the caller left out');
  });

  test('a backend op taking more arguments than the stack passes on is refused when the stack is made', () => {
    const backend = {
      ...recorder([]),
      lseek: (_c: OpContext, _p: string, _f: number, _o: number, _w: number, _x: number, _y: number) => 0,
    } as unknown as Vfs;
    assert.throws(() => createStack(backend, []), /vfs op lseek takes 6 arguments after ctx; the stack passes on 5/);
  });

  test('a layer may replace the arguments the next one gets', () => {
    const log: string[] = [];
    const upper: Layer = {
      kind: 'upper',
      disturbs: false,
      around(op, next) {
        if (op.name === 'write') op.args[2] = Buffer.from((op.args[2] as Buffer).toString().toUpperCase());
        return next();
      },
    };
    const s = createStack(recorder(log), [upper]);
    assert.equal(s.write(ctx, '/f', 1, Buffer.from('abc'), 5), 3);
    assert.deepEqual(log, ['backend write /f ABC@5']);
  });

  test('calling next() twice throws, naming the layer and the op', () => {
    const twice: Layer = {
      kind: 'greedy',
      disturbs: false,
      around(_op, next) {
        next();
        return next();
      },
    };
    const s = createStack(recorder([]), [twice]);
    assert.throws(() => s.getattr(ctx, '/f'), /layer greedy called next\(\) twice for getattr/);
  });

  test('pausing skips the disturbing layers only; resuming brings them back', () => {
    const log: string[] = [];
    const s = createStack(recorder(log), [tracer('trace', log), tracer('fault', log, true), tracer('metrics', log)]);
    s.setPaused(true);
    assert.equal(s.paused, true);
    s.getattr(ctx, '/f');
    assert.deepEqual(log, ['trace in getattr', 'metrics in getattr', 'backend getattr /f', 'metrics out getattr', 'trace out getattr']);
    assert.equal(s.layers().length, 3, 'layers() lists them all');
    log.length = 0;
    s.setPaused(false);
    s.getattr(ctx, '/f');
    assert.ok(log.includes('fault in getattr'));
  });

  test('replace swaps the layers; a call in flight finishes with the ones it started with', async () => {
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow: Layer = { kind: 'slow', disturbs: true, around: (_op, next) => gate.then(next) };
    const s = createStack(recorder(log), [tracer('old', log), slow]);
    const inFlight = s.getattr(ctx, '/a');
    s.replace([tracer('new', log)]);
    await s.getattr(ctx, '/b');
    release();
    await inFlight;
    assert.deepEqual(log, [
      'old in getattr',
      'new in getattr',
      'backend getattr /b',
      'new out getattr',
      'backend getattr /a',
      'old out getattr',
    ]);
    assert.deepEqual(
      s.layers().map((l) => l.kind),
      ['new'],
    );
  });

  test('open and create lose backingFd when a layer needs the file data, keep it otherwise', async () => {
    for (const async of [false, true]) {
      const log: string[] = [];
      const needs = tracer('fault', log, true, {
        needs: (shortcut: KernelShortcut, path: string) => shortcut === 'data' && path.endsWith('.db'),
      });
      const s = createStack(recorder(log, { async }), [tracer('trace', log), needs]);
      assert.deepEqual(await s.open(ctx, '/x.db', 0), { fh: 7, backingFd: undefined });
      assert.deepEqual(await s.open(ctx, '/x.txt', 0), { fh: 7, backingFd: 7 });
      const created = (await s.create(ctx, '/y.db', 0, 0o644)) as { fh: number; backingFd?: number; attr: Attr };
      assert.equal(created.backingFd, undefined);
      assert.equal(created.fh, 8);
      assert.equal(created.attr.ino, 2);
      assert.equal(((await s.create(ctx, '/y.txt', 0, 0o644)) as { backingFd?: number }).backingFd, 8);
    }
  });

  test('an open the backend failed, by returning the failure at once or later, stays that failure where an offer is withdrawn', async () => {
    const refused = new FsError(E.EACCES);
    for (const async of [false, true]) {
      const backend = { open: (): FsError | Promise<FsError> => (async ? Promise.resolve(refused) : refused) } as unknown as Vfs;
      const needsData: Layer = {
        kind: 'metrics',
        disturbs: false,
        around: (_op, next) => next(),
        needs: (shortcut) => shortcut === 'data',
      };
      assert.equal(await createStack(backend, [needsData]).open(ctx, '/x.db', 0), refused);
    }
  });

  test('syncfs reaches the layers even when the backend has nothing to sync', () => {
    const log: string[] = [];
    const s: StackVfs = createStack(recorder(log), [tracer('t', log)]);
    assert.equal(typeof s.syncfs, 'function');
    s.syncfs!(ctx, '/');
    assert.deepEqual(log, ['t in syncfs', 't out syncfs']);
    assert.equal((s as unknown as Record<string, unknown>).fallocate, undefined, 'ops the backend lacks stay missing');
  });

  test("an op's file size comes from the backend below every layer, once per op, and only when a layer asks", () => {
    const log: string[] = [];
    const asked: Array<number | undefined> = [];
    const sizer: Layer = {
      kind: 'sizer',
      disturbs: false,
      around(op, next) {
        if (op.path !== '/quiet') asked.push(op.fileSize(), op.fileSize());
        return next();
      },
    };
    const s = createStack(recorder(log), [tracer('outer', log), sizer, tracer('inner', log)]);
    s.read(ctx, '/f', 1, Buffer.alloc(4), 0);
    assert.deepEqual(asked, [FILE_ATTR.size, FILE_ATTR.size]);
    assert.deepEqual(
      log,
      ['outer in read', 'backend getattr /f', 'inner in read', 'backend read /f 4@0', 'inner out read', 'outer out read'],
      'one stat, which no layer sees',
    );
    log.length = 0;
    s.read(ctx, '/quiet', 1, Buffer.alloc(4), 0);
    assert.ok(!log.includes('backend getattr /quiet'), 'not asked: not statted');
  });

  test('a backend that answers stat only later gives rules no file size', async () => {
    const asked: Array<number | undefined> = [];
    const sizer: Layer = { kind: 'sizer', disturbs: false, around: (op, next) => (asked.push(op.fileSize()), next()) };
    const s = createStack(recorder([], { async: true }), [sizer]);
    await s.read(ctx, '/f', 1, Buffer.alloc(4), 0);
    assert.deepEqual(asked, [undefined]);
  });

  test('the op a layer sees carries path, offset, size and the rules that fired', () => {
    let seen: Op | undefined;
    const spy: Layer = { kind: 'spy', disturbs: false, around: (op, next) => ((seen = op), next()) };
    const s = createStack(recorder([]), [spy]);
    s.read(ctx, '/f', 1, Buffer.alloc(100), 4096);
    assert.equal(seen!.name, 'read');
    assert.equal(seen!.path, '/f');
    assert.equal(seen!.offset, 4096);
    assert.equal(seen!.size, 100);
    assert.equal(seen!.ctx, ctx);
  });
});

/** A stack with the layers of a config's `layers` section over the recording backend. */
function stackOf(layers: unknown[], log: string[] = []): StackVfs {
  const config = validateConfig({ layers });
  return createStack(
    recorder(log),
    config.layers.map((l, i) => {
      if (l.fault) return createFaultLayer(l.fault, Date.now(), `layers[${i}]`);
      if (l.latency) return createLatencyLayer(l.latency, Date.now(), `layers[${i}]`);
      return createThrottleLayer(l.throttle!, Date.now(), `layers[${i}]`);
    }),
  );
}

describe('fault layer', () => {
  test('errno, weighted errnos, and the first rule that fires acts', () => {
    const s = stackOf([
      {
        fault: {
          rules: [
            { ops: ['getattr'], paths: ['a'], errno: 'EACCES' },
            { ops: ['getattr'], errno: [{ EIO: 1 }, { ENOENT: 1 }] },
          ],
        },
      },
    ]);
    fails(() => s.getattr(ctx, '/a'), E.EACCES);
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      seen.add(code(() => s.getattr(ctx, '/b')));
    }
    assert.deepEqual([...seen].sort(), ['EIO', 'ENOENT']);
  });

  test('short read and short write by fraction and by bytes', () => {
    const log: string[] = [];
    const s = stackOf(
      [
        {
          fault: {
            rules: [
              { ops: ['read'], paths: ['half'], action: { shortRead: 0.5 } },
              { ops: ['read'], paths: ['ten'], action: { shortRead: 10 } },
              { ops: ['write'], action: { shortWrite: '2' } },
            ],
          },
        },
      ],
      log,
    );
    assert.equal(s.read(ctx, '/half', 1, Buffer.alloc(4096), 0), 2048);
    assert.equal(s.read(ctx, '/ten', 1, Buffer.alloc(4096), 0), 10);
    assert.equal(s.read(ctx, '/ten', 1, Buffer.alloc(4), 0), 4, 'never more than asked');
    assert.equal(s.write(ctx, '/w', 1, Buffer.from('abcdef'), 0), 2);
    assert.ok(log.includes('backend write /w ab@0'));
  });

  test('torn write: the kept part reaches the backend, then the error', () => {
    const log: string[] = [];
    const s = stackOf([{ fault: { rules: [{ ops: ['write'], action: { tornWrite: { keep: 3, errno: 'ENOSPC' } } }] } }], log);
    fails(() => s.write(ctx, '/w', 1, Buffer.from('abcdef'), 0), E.ENOSPC);
    assert.deepEqual(log, ['backend write /w abc@0']);
  });

  test('corrupt changes exactly N distinct bytes (flip: one bit each; random: another value), on reads and on writes', () => {
    const s = stackOf([{ fault: { seed: 3, rules: [{ ops: ['read'], action: { corrupt: { mode: 'flip', bytes: 8 } } }] } }]);
    const clean = Buffer.from(Array.from({ length: 64 }, (_, i) => i));
    for (let round = 0; round < 200; round++) {
      const into = Buffer.alloc(64);
      assert.equal(s.read(ctx, '/f', 1, into, 0), 64);
      const hit = [...into].map((b, i) => b ^ clean[i]).filter((x) => x !== 0);
      assert.equal(hit.length, 8, `round ${round}: ${hit.length} bytes differ`);
      for (const x of hit) assert.equal(x & (x - 1), 0, `one bit per byte, got ${x.toString(2)}`);
    }
    const rnd = stackOf([{ fault: { seed: 4, rules: [{ ops: ['read'], action: { corrupt: { mode: 'random', bytes: 5 } } }] } }]);
    for (let round = 0; round < 200; round++) {
      const into = Buffer.alloc(64);
      rnd.read(ctx, '/f', 1, into, 0);
      assert.equal([...into].filter((b, i) => b !== clean[i]).length, 5, `random, round ${round}`);
    }
    const log: string[] = [];
    const w = stackOf([{ fault: { rules: [{ ops: ['write'], action: { corrupt: { mode: 'zero', bytes: 3 } } }] } }], log);
    const data = Buffer.from('abcdefgh');
    w.write(ctx, '/w', 1, data, 0);
    assert.equal(data.toString(), 'abcdefgh', "the caller's buffer is not touched");
    const written = log[0].slice('backend write /w '.length, -2);
    assert.equal([...written].filter((ch) => ch === '\0').length, 3);
    // never more bytes than there are
    const small = Buffer.alloc(2);
    stackOf([{ fault: { rules: [{ ops: ['read'], action: { corrupt: { bytes: 10 } } }] } }]).read(ctx, '/f', 1, small, 0);
    assert.equal([...small].filter((b, i) => b !== i).length, 2);
  });

  test('statfs lie and attribute override', () => {
    const s = stackOf([
      {
        fault: {
          rules: [
            { ops: ['statfs'], action: { statfs: { size: '100MiB', free: '10MiB', files: 42 } } },
            { ops: ['getattr', 'create'], action: { attr: { mode: 0o600, size: 12345, uid: 99, mtime: '2001-02-03T04:05:06Z' } } },
          ],
        },
      },
    ]);
    const st = s.statfs(ctx, '/') as StatFs;
    assert.equal(st.blocks * st.frsize, 100 * 1024 ** 2);
    assert.equal(st.bfree * st.frsize, 10 * 1024 ** 2);
    assert.equal(st.bavail, st.bfree);
    assert.equal(st.files, 42);
    const a = s.getattr(ctx, '/f') as Attr;
    assert.equal(a.mode, 0o100600, 'the file type stays');
    assert.equal(a.size, 12345);
    assert.equal(a.uid, 99);
    assert.equal(a.mtimeMs, Date.parse('2001-02-03T04:05:06Z'));
    const c = s.create(ctx, '/n', 0, 0o644) as { attr: Attr; fh: number };
    assert.equal(c.attr.size, 12345);
    assert.equal(c.fh, 8);
  });

  test('an action that does not apply to the op lets it through', () => {
    const s = stackOf([{ fault: { rules: [{ ops: ['read', 'getattr'], action: { shortRead: 0.5 } }] } }]);
    assert.equal((s.getattr(ctx, '/f') as Attr).size, 10);
  });

  test('ops an action cannot act on pass a rule uncounted: they use up none of its triggers', () => {
    const s = stackOf([
      {
        fault: {
          rules: [
            { name: 'once', paths: ['f'], times: 1, action: { shortRead: 0.5 } },
            { name: 'lie', action: { statfs: { files: 7 } } },
          ],
        },
      },
    ]);
    s.getattr(ctx, '/f');
    s.open(ctx, '/f', 0);
    s.write(ctx, '/f', 1, Buffer.from('abcd'), 0);
    assert.equal(s.read(ctx, '/f', 1, Buffer.alloc(100), 0), 50, 'the first read is the one made short');
    assert.equal(s.read(ctx, '/f', 1, Buffer.alloc(100), 0), 100);
    assert.equal((s.statfs(ctx, '/') as StatFs).files, 7);
    const counters = Object.fromEntries(s.layers()[0].rules!().map((r) => [r.spec.name, { ...r.counters }]));
    assert.deepEqual(counters, { once: { matched: 2, fired: 1 }, lie: { matched: 1, fired: 1 } });
  });

  test('a fileSize range picks files by their size (the backend has 10-byte files)', () => {
    const s = stackOf([{ fault: { rules: [{ ops: ['read'], fileSize: { min: 10 }, errno: 'EIO' }] } }]);
    fails(() => s.read(ctx, '/f', 1, Buffer.alloc(4), 0), E.EIO);
    const larger = stackOf([{ fault: { rules: [{ ops: ['read'], fileSize: { min: 11 }, errno: 'EIO' }] } }]);
    assert.equal(larger.read(ctx, '/f', 1, Buffer.alloc(4), 0), 4);
  });

  test('needs data follows the rules: data rules on matching paths only', () => {
    const s = stackOf([
      {
        fault: {
          rules: [
            { ops: ['read'], paths: ['*.db'], errno: 'EIO' },
            { ops: ['getattr'], errno: 'EIO' },
          ],
        },
      },
    ]);
    assert.equal((s.open(ctx, '/x.db', 0) as { backingFd?: number }).backingFd, undefined);
    assert.equal((s.open(ctx, '/x.txt', 0) as { backingFd?: number }).backingFd, 7);
  });

  test('needs flush: only errno rules that could act on flush keep FLUSH; other rules leave FOPEN_NOFLUSH', () => {
    const backend = { open: (): OpenResult => ({ fh: 7, noFlush: true }) } as unknown as Vfs;
    const config = validateConfig({
      layers: [
        {
          fault: {
            rules: [
              { ops: ['flush'], paths: ['*.log'], errno: 'EIO' },
              { ops: ['read', 'flush'], paths: ['*.db'], action: { shortRead: 0.5 } },
            ],
          },
        },
      ],
    });
    const s = createStack(backend, [createFaultLayer(config.layers[0].fault!, Date.now(), 'layers[0]')]);
    const noFlush = (path: string): boolean | undefined => (s.open(ctx, path, 0) as OpenResult).noFlush;
    assert.equal(noFlush('/a.log'), false, 'close(2) of a.log must reach the rule');
    assert.equal(noFlush('/a.db'), true, 'a shortRead cannot act on flush');
    assert.equal(noFlush('/a.txt'), true);
  });

  test('needs listing: a rule that can act on readdir of a directory keeps its listing out of the kernel cache', async () => {
    for (const async of [false, true]) {
      const backend = {
        opendir: (): OpenResult | Promise<OpenResult> => (async ? Promise.resolve({ fh: 3 }) : { fh: 3 }),
      } as unknown as Vfs;
      const config = validateConfig({
        layers: [
          {
            fault: {
              rules: [
                { ops: ['readdir'], paths: ['/spool'], errno: 'EIO' },
                { paths: ['/data'], action: { shortRead: 0.5 } },
              ],
            },
          },
          { latency: { rules: [{ ops: ['opendir', 'readdir'], paths: ['/slow'], delay: '1ms' }] } },
        ],
      });
      const layers = [
        createFaultLayer(config.layers[0].fault!, Date.now(), 'layers[0]'),
        createLatencyLayer(config.layers[1].latency!, Date.now(), 'layers[1]'),
      ];
      const s = createStack(backend, layers);
      const cacheListing = async (path: string): Promise<boolean | undefined> => (await settled(s.opendir(ctx, path))).cacheListing;
      assert.equal(await cacheListing('/spool'), false, 'readdir of /spool must reach the errno rule');
      assert.equal(await cacheListing('/slow'), false, 'and the delay');
      assert.equal(await cacheListing('/data'), undefined, 'a short read cannot act on readdir');
      assert.equal(await cacheListing('/other'), undefined);
    }
  });
});

describe('latency layer', () => {
  test('delays matching ops by at least the configured time; others pass at once', async () => {
    const s = stackOf([{ latency: { rules: [{ ops: ['fsync'], delay: '30ms' }] } }]);
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) await s.fsync(ctx, '/f', 1, false);
    assert.ok(performance.now() - t0 >= 150);
    assert.equal(s.getattr(ctx, '/f') instanceof Promise, false, 'an op no rule matches stays synchronous');
  });

  test('a ramp scales the delay of every matched op, not how many are delayed', async () => {
    // The ramp started 500 ms ago over 1000 ms: the scale is at least 0.5.
    const config = validateConfig({ layers: [{ latency: { rules: [{ ops: ['fsync'], delay: '40ms', ramp: { over: '1s' } }] } }] });
    const layer = createLatencyLayer(config.layers[0].latency!, Date.now() - 500, 'layers[0]');
    const s = createStack(recorder([]), [layer]);
    const t0 = performance.now();
    for (let i = 0; i < 10; i++) await s.fsync(ctx, '/f', 1, false);
    assert.equal(layer.rules!()[0].counters.fired, 10, 'every op delayed');
    assert.ok(performance.now() - t0 >= 10 * 40 * 0.5, 'each by at least half the delay');
  });

  test('an interrupted delay ends with EINTR', async () => {
    const s = stackOf([{ latency: { rules: [{ ops: ['fsync'], delay: '10s' }] } }]);
    const ac = new AbortController();
    const p = s.fsync({ ...ctx, signal: ac.signal }, '/f', 1, false);
    setTimeout(() => ac.abort(), 20);
    await assert.rejects(Promise.resolve(p), fail('EINTR'));
  });
});

describe('throttle layer', () => {
  test('token bucket: the burst is free, then each take waits for its debt', () => {
    // 1 token per second, so the little time between the takes refills next to nothing.
    const b = new TokenBucket(1, 100);
    assert.equal(b.take(100), 0);
    const w = b.take(100);
    assert.ok(w > 99_000 && w <= 100_000, `waits about 100 s for its debt, got ${w} ms`);
    assert.equal(b.admits(1), false, 'in debt: fail mode refuses');
  });

  test('token bucket: a request larger than the burst is admitted from a full bucket only, and leaves a debt', () => {
    let now = 0;
    const b = new TokenBucket(100, 100, () => now);
    assert.equal(b.admits(250), true, 'full: more than the burst passes');
    b.take(250);
    assert.equal(b.admits(1), false, 'the debt of 150 refuses the next request');
    now += 1500; // 150 tokens pay the debt back
    assert.equal(b.admits(100), false, 'paid back but not full yet');
    assert.equal(b.admits(1), false);
    now += 10;
    assert.equal(b.admits(1), true);
    now += 990;
    assert.equal(b.admits(250), true, 'full again');
    b.take(10);
    assert.equal(b.admits(250), false, 'not full: a request over the burst fails');
    assert.equal(b.admits(90), true, 'and asking took nothing');
  });

  test('several buckets: none is taken from unless all admit the op', () => {
    let now = 0;
    // 1000 bytes and 10 ops per second; the IOPS bucket holds one op.
    const b = new Buckets({ read: 1000, iops: 10, burst: 1000, onLimit: 'fail' }, () => now);
    const read = (n: number): Op => makeOp('read', ctx, ['/f', 1, Buffer.alloc(n), 0]);
    assert.equal(b.charge(read(500)), 0);
    assert.equal(b.charge(read(500)), null, 'the IOPS bucket is empty');
    now += 100; // one op and 100 bytes refilled
    // Had the refused read taken its 500 bytes, only 100 would be left.
    assert.equal(b.charge(read(600)), 0, 'the refused read took no bytes');
  });

  test('onLimit fail: a read larger than the burst passes when the bucket is full, then fails until refilled', () => {
    // 1 byte per second: nothing refills while the test runs.
    const s = stackOf([{ throttle: { read: 1, burst: '64KiB', onLimit: 'fail' } }]);
    assert.equal(s.read(ctx, '/f', 1, Buffer.alloc(128 * 1024), 0), 128 * 1024);
    fails(() => s.read(ctx, '/f', 1, Buffer.alloc(1), 0), E.EAGAIN);
    const partly = stackOf([{ throttle: { read: 1, burst: '64KiB', onLimit: 'fail' } }]);
    assert.equal(partly.read(ctx, '/f', 1, Buffer.alloc(1), 0), 1);
    fails(() => partly.read(ctx, '/f', 1, Buffer.alloc(128 * 1024), 0), E.EAGAIN, 'not full: refused');
  });

  test('onLimit fail: a rule limit that refuses takes nothing from the volume limit', () => {
    // 1 byte per second: nothing refills while the test runs.
    const s = stackOf([
      {
        throttle: {
          read: 1,
          burst: '100KiB',
          onLimit: 'fail',
          rules: [{ name: 'small', paths: ['small'], read: 1, burst: '10KiB', onLimit: 'fail' }],
        },
      },
    ]);
    const KiB = 1024;
    assert.equal(s.read(ctx, '/small', 1, Buffer.alloc(8 * KiB), 0), 8 * KiB);
    fails(() => s.read(ctx, '/small', 1, Buffer.alloc(8 * KiB), 0), E.EAGAIN);
    // The volume has 92 KiB left; had the refused read taken its 8 KiB there, this would fail.
    assert.equal(s.read(ctx, '/f', 1, Buffer.alloc(92 * KiB), 0), 92 * KiB);
    fails(() => s.read(ctx, '/f', 1, Buffer.alloc(1), 0), E.EAGAIN, 'and then the volume is empty');
  });

  test('onLimit fail answers EAGAIN once the burst is spent', () => {
    const s = stackOf([{ throttle: { read: '64KiB/s', burst: '64KiB', onLimit: 'fail' } }]);
    assert.equal(s.read(ctx, '/f', 1, Buffer.alloc(32 * 1024), 0), 32 * 1024);
    assert.equal(s.read(ctx, '/f', 1, Buffer.alloc(32 * 1024), 0), 32 * 1024);
    fails(() => s.read(ctx, '/f', 1, Buffer.alloc(32 * 1024), 0), E.EAGAIN);
  });

  test('a read over the burst waits; metadata ops do not', async () => {
    const s = stackOf([{ throttle: { read: '1MiB/s', burst: '64KiB' } }]);
    // The bucket is full (64 KiB) when the first read takes from it; 192 KiB need 128 KiB of refill.
    const t0 = performance.now();
    assert.equal(s.read(ctx, '/f', 1, Buffer.alloc(64 * 1024), 0), 64 * 1024, 'the burst passes synchronously');
    const waiting = s.read(ctx, '/f', 1, Buffer.alloc(128 * 1024), 0);
    assert.ok(waiting instanceof Promise);
    assert.equal(s.getattr(ctx, '/g') instanceof Promise, false);
    assert.equal(await waiting, 128 * 1024);
    assert.ok(performance.now() - t0 >= 125 - 1, 'waited for 128 KiB at 1 MiB/s');
  });
});
