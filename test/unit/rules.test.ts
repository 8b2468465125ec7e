// The rule language without a mount: which ops a rule matches (names, groups,
// path globs, process, I/O and file sizes) and when a matched op fires (seeded probability,
// after, every, times, afterBytes, windows, ramps).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { makeOp, OP_NAMES, type Op, type OpName, type StatBelow } from '../../src/layers/op.ts';
import { deriveSeed, Rng } from '../../src/rules/rng.ts';
import { Rule, type RuleSpec } from '../../src/rules/rule.ts';
import { E, FsError } from '../../src/vfs/errors.ts';
import type { OpContext } from '../../src/vfs/types.ts';

import { FILE_ATTR } from '../fixtures/attr.ts';
const ORIGIN = 1_700_000_000_000;
const ctx = (o: Partial<OpContext> = {}): OpContext => ({ uid: 1000, gid: 1000, pid: process.pid, unique: 1, ...o });

function op(name: OpName, path = '/f', o: { size?: number; ctx?: OpContext; path2?: string } = {}): Op {
  const c = o.ctx ?? ctx();
  switch (name) {
    case 'read':
    case 'write':
      return makeOp(name, c, [path, 1, Buffer.alloc(o.size ?? 4096), 0]);
    case 'fallocate':
      return makeOp(name, c, [path, 1, 0, 0, o.size ?? 4096]);
    case 'rename':
      return makeOp(name, c, [path, o.path2 ?? '/other', 0]);
    case 'symlink':
      return makeOp(name, c, ['target', path]);
    case 'link':
      return makeOp(name, c, [o.path2 ?? '/other', path]);
    case 'copyFileRange':
      return makeOp(name, c, [{ path, fh: 1, offset: 0 }, { path: o.path2 ?? '/other', fh: 2, offset: 0 }, o.size ?? 4096, 0]);
    default:
      return makeOp(name, c, [path]);
  }
}

const rule = (spec: Omit<RuleSpec, 'name'> & { name?: string }, seed = 1, origin = ORIGIN): Rule =>
  new Rule({ name: 'r', ...spec }, seed, origin);

/** matches() and then fires(), as the layers call them. */
const acts = (r: Rule, o: Op, now = ORIGIN): boolean => r.matches(o) && r.fires(o, now);

/** The decisions of `r` on `n` reads of `size` bytes, as a string of 1 (fired) and 0. */
function pattern(r: Rule, n: number, size = 4096, now = ORIGIN): string {
  let out = '';
  for (let i = 0; i < n; i++) out += acts(r, op('read', '/f', { size }), now) ? '1' : '0';
  return out;
}

describe('matching', () => {
  test('ops by name', () => {
    const r = rule({ ops: ['read', 'fsync'] });
    assert.equal(r.matches(op('read')), true);
    assert.equal(r.matches(op('fsync')), true);
    assert.equal(r.matches(op('write')), false);
    assert.equal(r.matches(op('getattr')), false);
  });

  test('no ops (or an empty list) means every op', () => {
    for (const ops of [undefined, []]) {
      const r = rule({ ops });
      for (const name of OP_NAMES) assert.equal(r.matches(op(name)), true, name);
    }
  });

  test('ops by group: data, metadata, namespace, sync, all', () => {
    const data = rule({ ops: ['data'] });
    for (const n of ['read', 'write', 'fsync', 'flush', 'fallocate', 'copyFileRange', 'syncfs'] as const)
      assert.equal(data.matches(op(n)), true, n);
    for (const n of ['getattr', 'open', 'mkdir', 'readdir', 'statfs'] as const) assert.equal(data.matches(op(n)), false, n);

    const meta = rule({ ops: ['metadata'] });
    for (const n of ['getattr', 'setattr', 'open', 'create', 'mkdir', 'unlink', 'readdir', 'statfs', 'getxattr'] as const)
      assert.equal(meta.matches(op(n)), true, n);
    for (const n of ['read', 'write', 'fsync'] as const) assert.equal(meta.matches(op(n)), false, n);

    const ns = rule({ ops: ['namespace'] });
    for (const n of ['create', 'mkdir', 'rename', 'unlink', 'rmdir', 'link', 'symlink', 'mknod'] as const)
      assert.equal(ns.matches(op(n)), true, n);
    assert.equal(ns.matches(op('getattr')), false);

    const sync = rule({ ops: ['sync'] });
    for (const n of ['fsync', 'fsyncdir', 'flush', 'syncfs'] as const) assert.equal(sync.matches(op(n)), true, n);
    assert.equal(sync.matches(op('write')), false);

    const all = rule({ ops: ['all'] });
    for (const name of OP_NAMES) assert.equal(all.matches(op(name)), true, name);

    const mixed = rule({ ops: ['sync', 'getattr'] });
    assert.equal(mixed.matches(op('getattr')), true);
    assert.equal(mixed.matches(op('fsync')), true);
    assert.equal(mixed.matches(op('read')), false);
  });

  test('include globs are relative to the mount root; a leading / is allowed; dotfiles match', () => {
    const logs = rule({ paths: ['**/*.log'] });
    assert.equal(logs.matches(op('read', '/a.log')), true);
    assert.equal(logs.matches(op('read', '/d/e/f.log')), true);
    assert.equal(logs.matches(op('read', '/a.txt')), false);
    assert.equal(logs.matches(op('read', '/a.log.1')), false);
    assert.equal(logs.matches(op('read', '/.hidden/x.log')), true);

    for (const glob of ['db/*', '/db/*']) {
      const db = rule({ paths: [glob] });
      assert.equal(db.matches(op('read', '/db/x')), true, glob);
      assert.equal(db.matches(op('read', '/db/x/y')), false, glob);
      assert.equal(db.matches(op('read', '/x/db/y')), false, glob);
    }
    const deep = rule({ paths: ['db/**'] });
    assert.equal(deep.matches(op('read', '/db/x/y/z')), true);

    const several = rule({ paths: ['a', 'b/*'] });
    assert.equal(several.matches(op('read', '/a')), true);
    assert.equal(several.matches(op('read', '/b/c')), true);
    assert.equal(several.matches(op('read', '/c')), false);

    const everything = rule({ paths: ['**'] });
    assert.equal(everything.matches(op('read', '/.git/config')), true);
  });

  test('exclude globs win over include; exclude alone excludes from everything', () => {
    const r = rule({ paths: ['logs/**'], exclude: ['**/*.keep'] });
    assert.equal(r.matches(op('read', '/logs/a.txt')), true);
    assert.equal(r.matches(op('read', '/logs/b.keep')), false);
    assert.equal(r.matches(op('read', '/other/a.txt')), false);

    const ex = rule({ exclude: ['tmp/**'] });
    assert.equal(ex.matches(op('read', '/data')), true);
    assert.equal(ex.matches(op('read', '/tmp/x')), false);
  });

  test('rename, link and copy match on either path; an excluded second path excludes', () => {
    const r = rule({ paths: ['**/*.db'] });
    assert.equal(r.matches(op('rename', '/x.tmp', { path2: '/x.db' })), true);
    assert.equal(r.matches(op('rename', '/x.db', { path2: '/x.old' })), true);
    assert.equal(r.matches(op('rename', '/x.tmp', { path2: '/y.tmp' })), false);
    assert.equal(r.matches(op('link', '/new.db', { path2: '/old' })), true);
    assert.equal(r.matches(op('copyFileRange', '/a', { path2: '/b.db' })), true);
    // symlink is about the new name, not the target
    assert.equal(r.matches(op('symlink', '/s.db')), true);

    const ex = rule({ exclude: ['**/*.db'] });
    assert.equal(ex.matches(op('rename', '/x.tmp', { path2: '/x.db' })), false);
  });

  test('process: pid, uid and command name, all of them when several are given', () => {
    const comm = readFileSync('/proc/self/comm', 'utf8').trim();
    const me = ctx({ pid: process.pid, uid: 1000 });
    assert.equal(rule({ process: { pid: [process.pid] } }).matches(op('read', '/f', { ctx: me })), true);
    assert.equal(rule({ process: { pid: [process.pid + 1, 1] } }).matches(op('read', '/f', { ctx: me })), false);
    assert.equal(rule({ process: { uid: [0, 1000] } }).matches(op('read', '/f', { ctx: me })), true);
    assert.equal(rule({ process: { uid: [0] } }).matches(op('read', '/f', { ctx: me })), false);
    assert.equal(rule({ process: { comm: [comm] } }).matches(op('read', '/f', { ctx: me })), true);
    assert.equal(rule({ process: { comm: [`${comm}x`, 'python3'] } }).matches(op('read', '/f', { ctx: me })), false);
    assert.equal(rule({ process: { comm: [comm], uid: [1000], pid: [process.pid] } }).matches(op('read', '/f', { ctx: me })), true);
    assert.equal(rule({ process: { comm: [comm], uid: [0] } }).matches(op('read', '/f', { ctx: me })), false);
    // A process that is gone has no command name and matches none.
    assert.equal(rule({ process: { comm: [comm] } }).matches(op('read', '/f', { ctx: ctx({ pid: 2 ** 30 }) })), false);
  });

  test('size ranges apply to the I/O size; ops without one have size 0', () => {
    const r = rule({ size: { min: 4096, max: 65536 } });
    assert.equal(r.matches(op('read', '/f', { size: 4095 })), false);
    assert.equal(r.matches(op('read', '/f', { size: 4096 })), true);
    assert.equal(r.matches(op('write', '/f', { size: 65536 })), true);
    assert.equal(r.matches(op('write', '/f', { size: 65537 })), false);
    assert.equal(r.matches(op('fallocate', '/f', { size: 8192 })), true);
    assert.equal(r.matches(op('copyFileRange', '/f', { size: 1 << 20 })), false);
    assert.equal(r.matches(op('getattr')), false);
    const small = rule({ size: { max: 512 } });
    assert.equal(small.matches(op('read', '/f', { size: 512 })), true);
    assert.equal(small.matches(op('getattr')), true);
  });

  test('fileSize ranges apply to the size of the regular file the op is about, before the op', () => {
    const sizes: Record<string, number> = { '/small': 100, '/big': 2 << 20, '/exact': 1 << 20 };
    const stats: Array<[string, number | undefined]> = [];
    const statBelow: StatBelow = (_c, path, fh) => {
      stats.push([path, fh]);
      if (path === '/dir') return { ...FILE_ATTR, mode: 0o040755, size: 1 << 30 };
      if (!(path in sizes)) throw new FsError(E.ENOENT);
      return { ...FILE_ATTR, size: sizes[path] };
    };
    const at = (name: OpName, path: string, args: unknown[] = [path]): Op => makeOp(name, ctx(), args, statBelow);
    const big = rule({ fileSize: { min: 1 << 20 } });
    assert.equal(big.matches(at('read', '/big', ['/big', 7, Buffer.alloc(10), 0])), true);
    assert.deepEqual(stats.pop(), ['/big', 7], 'an op with an open file asks through its handle');
    assert.equal(big.matches(at('read', '/small', ['/small', 8, Buffer.alloc(10), 0])), false);
    assert.equal(big.matches(at('getattr', '/exact')), true, 'min is inclusive');
    assert.deepEqual(stats.pop(), ['/exact', undefined], 'a path op asks by path');
    assert.equal(big.matches(at('open', '/nonesuch', ['/nonesuch', 0])), false, 'no such file: no size to match');
    assert.equal(big.matches(at('getattr', '/dir')), false, 'a directory has no file size');
    assert.equal(big.matches(at('link', '/new', ['/big', '/new'])), true, 'link: the existing file');
    assert.equal(big.matches(op('read', '/big')), false, 'an op that cannot stat has no size');
    const copy = at('copyFileRange', '/big', [{ path: '/big', fh: 3, offset: 0 }, { path: '/small', fh: 4, offset: 0 }, 10, 0]);
    assert.equal(big.matches(copy), true, 'copy: the source');
    assert.deepEqual(stats.pop(), ['/big', 3]);

    const small = rule({ fileSize: { max: 1 << 20 } });
    assert.equal(small.matches(at('write', '/small', ['/small', 8, Buffer.alloc(10), 0])), true);
    assert.equal(small.matches(at('write', '/exact', ['/exact', 8, Buffer.alloc(10), 0])), true, 'max is inclusive');
    assert.equal(small.matches(at('write', '/big', ['/big', 8, Buffer.alloc(10), 0])), false);
    const between = rule({ fileSize: { min: 1000, max: 1 << 20 } });
    assert.deepEqual(
      ['/small', '/exact', '/big'].map((p) => between.matches(at('getattr', p))),
      [false, true, false],
    );
  });

  test('fileSize costs a stat only when a rule with a range asks, after its other checks pass, once per op', () => {
    let stats = 0;
    const statBelow: StatBelow = () => (stats++, { ...FILE_ATTR, size: 10 });
    const o = (name: OpName, path = '/f'): Op => makeOp(name, ctx(), [path, 1, Buffer.alloc(4), 0], statBelow);
    for (const r of [rule({}), rule({ ops: ['read'], size: { max: 100 } }), rule({ paths: ['**'] })]) r.matches(o('read'));
    assert.equal(stats, 0, 'rules without a fileSize range never stat');
    const ranged = rule({ ops: ['read'], paths: ['logs/**'], fileSize: { max: 100 } });
    assert.equal(ranged.matches(o('write', '/logs/a')), false);
    assert.equal(ranged.matches(o('read', '/data/a')), false);
    assert.equal(stats, 0, 'an op another check refuses is not statted');
    const shared = o('read', '/logs/a');
    assert.equal(ranged.matches(shared), true);
    assert.equal(rule({ fileSize: { min: 5 } }).matches(shared), true);
    assert.equal(rule({ fileSize: { min: 50 } }).matches(shared), false);
    assert.equal(stats, 1, 'three rules asked about one op: one stat');
  });

  test('matched counts only matching ops; fired only firing ones; a disabled rule matches nothing', () => {
    const r = rule({ ops: ['read'], every: 2 });
    for (let i = 0; i < 10; i++) {
      acts(r, op('read'));
      acts(r, op('write'));
    }
    assert.deepEqual(r.counters, { matched: 10, fired: 5 });
    r.disabled = true;
    assert.equal(r.matches(op('read')), false);
    assert.equal(r.mightSee('data', '/f'), false);
    assert.deepEqual(r.counters, { matched: 10, fired: 5 });
  });

  test('a fired op records the rule name', () => {
    const r = rule({ name: 'boom' });
    const o = op('read');
    assert.equal(acts(r, o), true);
    assert.deepEqual(o.fired, ['boom']);
  });

  test('mightSee data: whether a rule could act on the reads and writes of a path', () => {
    assert.equal(rule({}).mightSee('data', '/x'), true);
    assert.equal(rule({ ops: ['getattr', 'fsync'] }).mightSee('data', '/x'), false);
    assert.equal(rule({ ops: ['data'] }).mightSee('data', '/x'), true);
    assert.equal(rule({ ops: ['write'], paths: ['*.log'] }).mightSee('data', '/a.log'), true);
    assert.equal(rule({ ops: ['write'], paths: ['*.log'] }).mightSee('data', '/a.txt'), false);
    assert.equal(rule({ exclude: ['*.log'] }).mightSee('data', '/a.log'), false);
  });
});

describe('triggers', () => {
  test('probability with a seed: the same seed gives the same decisions, another seed others', () => {
    const spec = { probability: 0.3 };
    const a = pattern(rule(spec, 42), 2000);
    const b = pattern(rule(spec, 42), 2000);
    const c = pattern(rule(spec, 43), 2000);
    assert.equal(a, b);
    assert.notEqual(a, c);
    // The rate is the configured one: inside the binomial 99.9% interval.
    for (const s of [a, c]) {
      const fired = [...s].filter((x) => x === '1').length;
      const n = 2000;
      const p = 0.3;
      const half = 3.29 * Math.sqrt(n * p * (1 - p));
      assert.ok(Math.abs(fired - n * p) <= half, `${fired} fired of ${n}`);
    }
  });

  test('probability 0 never fires, 1 always, without consuming randomness at 1', () => {
    assert.equal(pattern(rule({ probability: 0 }), 100), '0'.repeat(100));
    assert.equal(pattern(rule({ probability: 1 }), 100), '1'.repeat(100));
    assert.equal(pattern(rule({}), 100), '1'.repeat(100));
    const r = rule({ probability: 1 });
    pattern(r, 10);
    assert.equal(r.random().u32(), new Rng(deriveSeed(1, 'r')).u32(), 'the stream is untouched');
  });

  test('each rule draws from its own stream, derived from the seed and its name', () => {
    assert.notEqual(deriveSeed(1, 'a'), deriveSeed(1, 'b'));
    assert.notEqual(deriveSeed(1, 'a'), deriveSeed(2, 'a'));
    // Interleaving another rule's decisions does not shift this one's.
    const alone = pattern(rule({ name: 'x', probability: 0.5 }, 9), 500);
    const x = rule({ name: 'x', probability: 0.5 }, 9);
    const y = rule({ name: 'y', probability: 0.5 }, 9);
    let interleaved = '';
    for (let i = 0; i < 500; i++) {
      acts(y, op('read'));
      interleaved += acts(x, op('read')) ? '1' : '0';
    }
    assert.equal(interleaved, alone);
    assert.notEqual(pattern(rule({ name: 'y', probability: 0.5 }, 9), 500), alone);
  });

  test('after N skips the first N matching ops', () => {
    assert.equal(pattern(rule({ after: 3 }), 8), '00011111');
    assert.equal(pattern(rule({ after: 0 }), 3), '111');
  });

  test('every Nth matching op, counted after `after`', () => {
    assert.equal(pattern(rule({ every: 3 }), 10), '0010010010');
    assert.equal(pattern(rule({ every: 1 }), 4), '1111');
    assert.equal(pattern(rule({ after: 2, every: 3 }), 12), '000010010010');
  });

  test('times: at most N firings, also with a probability', () => {
    assert.equal(pattern(rule({ times: 2 }), 6), '110000');
    assert.equal(pattern(rule({ after: 1, times: 1 }), 4), '0100');
    const r = rule({ times: 5, probability: 0.5 }, 3);
    const s = pattern(r, 200);
    assert.equal([...s].filter((x) => x === '1').length, 5);
    assert.equal(r.counters.fired, 5);
  });

  test('afterBytes: acts once N bytes of matching I/O have passed', () => {
    // 4 KiB reads: 8 KiB pass untouched, the third read is the first past the line.
    assert.equal(pattern(rule({ afterBytes: 8192 }), 5, 4096), '00111');
    assert.equal(pattern(rule({ afterBytes: 10000 }), 5, 4096), '00111');
    assert.equal(pattern(rule({ afterBytes: 4095 }), 2, 4096), '11');
    // Ops the rule does not match carry no bytes towards it.
    const r = rule({ ops: ['write'], afterBytes: 4096 });
    for (let i = 0; i < 5; i++) assert.equal(acts(r, op('read')), false);
    assert.equal(acts(r, op('write')), false);
    assert.equal(acts(r, op('write')), true);
  });

  test('window relative to the origin (the mount), with an injected now', () => {
    const r = rule({ window: { start: 1000, duration: 500 } });
    assert.equal(acts(r, op('read'), ORIGIN), false);
    assert.equal(acts(r, op('read'), ORIGIN + 999), false);
    assert.equal(acts(r, op('read'), ORIGIN + 1000), true);
    assert.equal(acts(r, op('read'), ORIGIN + 1499), true);
    assert.equal(acts(r, op('read'), ORIGIN + 1500), false);
    assert.equal(acts(r, op('read'), ORIGIN + 100_000), false);
    assert.deepEqual(r.counters, { matched: 6, fired: 2 });

    const open = rule({ window: { start: 2000 } });
    assert.equal(acts(open, op('read'), ORIGIN + 1999), false);
    assert.equal(acts(open, op('read'), ORIGIN + 1e9), true);
    const first = rule({ window: { duration: 2000 } });
    assert.equal(acts(first, op('read'), ORIGIN), true);
    assert.equal(acts(first, op('read'), ORIGIN + 2000), false);
  });

  test('ops outside the window do not count towards after/every', () => {
    const r = rule({ window: { start: 1000 }, after: 2 });
    for (let i = 0; i < 5; i++) assert.equal(acts(r, op('read'), ORIGIN), false);
    assert.equal(pattern(r, 4, 4096, ORIGIN + 1000), '0011');
  });

  test('window in wall-clock time', () => {
    const from = '2030-01-01T00:00:00Z';
    const to = '2030-01-01T00:01:00Z';
    const r = rule({ window: { from, to } });
    const t0 = Date.parse(from);
    assert.equal(acts(r, op('read'), t0 - 1), false);
    assert.equal(acts(r, op('read'), t0), true);
    assert.equal(acts(r, op('read'), t0 + 59_999), true);
    assert.equal(acts(r, op('read'), t0 + 60_000), false);
    const open = rule({ window: { from } });
    assert.equal(acts(open, op('read'), t0 + 1e12), true);
  });

  test('ramp scale rises linearly from `from` to 1 over `over`, from the window start', () => {
    const r = rule({ ramp: { over: 1000 } });
    assert.equal(r.scale(ORIGIN - 500), 0);
    assert.equal(r.scale(ORIGIN), 0);
    assert.equal(r.scale(ORIGIN + 250), 0.25);
    assert.equal(r.scale(ORIGIN + 500), 0.5);
    assert.equal(r.scale(ORIGIN + 1000), 1);
    assert.equal(r.scale(ORIGIN + 60_000), 1);
    const from = rule({ ramp: { over: 1000, from: 0.2 } });
    assert.equal(from.scale(ORIGIN), 0.2);
    assert.ok(Math.abs(from.scale(ORIGIN + 500) - 0.6) < 1e-12);
    const late = rule({ window: { start: 1000 }, ramp: { over: 1000 } });
    assert.equal(late.scale(ORIGIN + 1500), 0.5);
    assert.equal(rule({}).scale(ORIGIN), 1);
  });

  test('a ramp scales the probability of firing', () => {
    const spec = { ramp: { over: 1000 } };
    assert.equal(pattern(rule(spec), 200, 4096, ORIGIN), '0'.repeat(200));
    assert.equal(pattern(rule(spec), 200, 4096, ORIGIN + 1000), '1'.repeat(200));
    const n = 4000;
    const half = [...pattern(rule(spec, 5), n, 4096, ORIGIN + 500)].filter((x) => x === '1').length;
    assert.ok(Math.abs(half - n / 2) <= 3.29 * Math.sqrt(n / 4), `${half} of ${n} at half-way`);
    const scaled = [...pattern(rule({ probability: 0.5, ramp: { over: 1000 } }, 5), n, 4096, ORIGIN + 500)].filter((x) => x === '1').length;
    assert.ok(Math.abs(scaled - n / 4) <= 3.29 * Math.sqrt((n * 3) / 16), `${scaled} of ${n} at p 0.5, half-way`);
  });

  test('fires(op, now, false) leaves the ramp to the caller (latency scales the delay instead)', () => {
    const r = rule({ ramp: { over: 1000 } });
    for (let i = 0; i < 50; i++) assert.equal(r.matches(op('read')) && r.fires(op('read'), ORIGIN + 100, false), true);
  });

  test('continueFrom: a rebuilt rule carries on where the old one was, if unchanged', () => {
    const spec = { name: 'r', every: 3, probability: 0.5 };
    const whole = pattern(rule(spec, 8), 60);
    const old = rule(spec, 8);
    const before = pattern(old, 25);
    const rebuilt = rule(spec, 8);
    rebuilt.continueFrom(old);
    assert.deepEqual(rebuilt.counters, old.counters);
    assert.equal(before + pattern(rebuilt, 35), whole);

    const bytes = rule({ afterBytes: 8192 });
    pattern(bytes, 2);
    const again = rule({ afterBytes: 8192 });
    again.continueFrom(bytes);
    assert.equal(pattern(again, 1), '1', 'bytes already counted');

    // A changed spec or seed starts its triggers afresh; the counters still carry over.
    const changed = rule({ ...spec, every: 2 }, 8);
    changed.continueFrom(old);
    assert.deepEqual(changed.counters, old.counters);
    assert.equal(pattern(changed, 2, 4096), pattern(rule({ ...spec, every: 2 }, 8), 2));
    const reseeded = rule(spec, 9);
    reseeded.continueFrom(old);
    assert.equal(pattern(reseeded, 30), pattern(rule(spec, 9), 30));
  });
});
