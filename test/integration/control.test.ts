// The control API of a live mount through `interposer ctl` (a child process):
// show, rules and counters, set (atomic; a bad config changes nothing),
// add-rule with a TTL, rm-rule, pause/resume, wait, crash (durability layer).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { isMounted, waitFor, withMount, withTempDir, writeConfig } from '../helpers/mount.ts';
import { freePort } from '../helpers/run.ts';
import { ctl, ctlAsync, ctlJson, DIRECT, pyJson, ruleNamed, rules, withConfig, type CtlResult } from './layers-support.ts';

const BASE = `
layers:
  - fault:
      rules:
        - { name: base, ops: [read], paths: [a], errno: EIO }
  - latency:
      rules:
        - { name: lag, ops: [fsync], paths: [nothing], delay: 5ms }
`;

/** Python: one read of each file, 'ok' or the errno. */
function reads(mnt: string, ...names: string[]): Record<string, string> {
  return pyJson<Record<string, string>>(
    mnt,
    `
res = {}
for n in ${JSON.stringify(names)}:
    if not os.path.exists(n): put(n, b'x')
    fd = os.open(n, os.O_RDONLY)
    res[n] = outcome(lambda: os.read(fd, 1) and 'ok')
    os.close(fd)
print(json.dumps(res))
`,
  );
}

/** `interposer ctl set MNT FILE` with `yaml` written to a temporary FILE. */
function ctlSet(mnt: string, yaml: string): Promise<CtlResult> {
  return withTempDir('ctl', (dir) => ctl('set', mnt, writeConfig(dir, yaml)));
}

test('show prints the config as parsed and as written, and whether injection is paused', async () => {
  await withConfig(BASE, async (mnt) => {
    const shown = ctlJson<{
      config: { layers: Array<Record<string, { rules: Array<Record<string, unknown>> }>> };
      layers: unknown[];
      paused: boolean;
    }>('show', mnt);
    assert.equal(shown.paused, false);
    assert.deepEqual(shown.layers, [
      { fault: { rules: [{ name: 'base', ops: ['read'], paths: ['a'], errno: 'EIO' }] } },
      { latency: { rules: [{ name: 'lag', ops: ['fsync'], paths: ['nothing'], delay: '5ms' }] } },
    ]);
    assert.equal(shown.config.layers[1].latency.rules[0].delay, 5, 'units parsed');
    assert.deepEqual(shown.config.layers[0].fault.rules[0].errno, [{ errno: 'EIO', weight: 1 }]);
  });
});

test('rules lists every rule with its layer, kind and matched/fired counters', async () => {
  await withConfig(BASE, async (mnt) => {
    assert.deepEqual(rules(mnt), [
      { layer: 0, kind: 'fault', name: 'base', matched: 0, fired: 0 },
      { layer: 1, kind: 'latency', name: 'lag', matched: 0, fired: 0 },
    ]);
    assert.deepEqual(reads(mnt, 'a', 'b'), { a: 'EIO', b: 'ok' });
    reads(mnt, 'a');
    reads(mnt, 'b');
    assert.deepEqual(ruleNamed(mnt, 'base'), { layer: 0, kind: 'fault', name: 'base', matched: 2, fired: 2 });
  });
});

test('set replaces the layers atomically; a bad config is rejected with the field and the old rules stay', async () => {
  await withConfig(BASE, async (mnt) => {
    assert.deepEqual(reads(mnt, 'a', 'b'), { a: 'EIO', b: 'ok' });

    const bad = await ctlSet(mnt, 'layers:\n  - fault:\n      rules:\n        - { name: nb, ops: [read], paths: [b], errno: EIOO }\n');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /layers\[0\]\.fault\.rules\[0\]\.errno: "EIOO" is not an errno; did you mean EIO\?/);
    assert.deepEqual(reads(mnt, 'a', 'b'), { a: 'EIO', b: 'ok' }, 'the old rules still act');
    assert.deepEqual(
      rules(mnt).map((r) => r.name),
      ['base', 'lag'],
    );

    const backend = await ctlSet(mnt, 'backend: { type: "null" }\nlayers: []\n');
    assert.equal(backend.status, 1);
    assert.match(backend.stderr, /the backend cannot change while mounted/);
    const mount = await ctlSet(mnt, 'mount: { cache: auto }\nlayers: []\n');
    assert.equal(mount.status, 1);
    assert.match(mount.stderr, /mount options cannot change while mounted/);
    const yaml = await ctlSet(mnt, 'layers: [ {fault: ');
    assert.equal(yaml.status, 1);
    assert.match(yaml.stderr, /not valid YAML or JSON/);
    assert.deepEqual(reads(mnt, 'a'), { a: 'EIO' });

    const good = await ctlSet(mnt, 'layers:\n  - fault:\n      rules:\n        - { name: nb, ops: [read], paths: [b], errno: EIO }\n');
    assert.equal(good.status, 0, good.stderr);
    assert.deepEqual(reads(mnt, 'a', 'b'), { a: 'ok', b: 'EIO' });
    assert.deepEqual(
      rules(mnt).map((r) => r.name),
      ['nb'],
    );
    assert.deepEqual(ctlJson<{ layers: unknown[] }>('show', mnt).layers, [
      { fault: { rules: [{ name: 'nb', ops: ['read'], paths: ['b'], errno: 'EIO' }] } },
    ]);

    // An empty layers section removes every disturbance.
    assert.equal((await ctlSet(mnt, 'layers: []\n')).status, 0);
    assert.deepEqual(reads(mnt, 'a', 'b'), { a: 'ok', b: 'ok' });
  });
});

test('add-rule adds to a layer by kind or index; a bad rule is refused and changes nothing', async () => {
  await withConfig(BASE, async (mnt) => {
    assert.deepEqual(ctlJson('add-rule', mnt, 'fault', '{name: extra, ops: [read], paths: [b], errno: EIO}'), { name: 'extra' });
    assert.deepEqual(reads(mnt, 'a', 'b', 'c'), { a: 'EIO', b: 'EIO', c: 'ok' });
    const unnamed = ctlJson<{ name: string }>('add-rule', mnt, '0', '{ops: [read], paths: [c], errno: EIO}');
    assert.ok(unnamed.name.length > 0);
    assert.deepEqual(reads(mnt, 'c'), { c: 'EIO' });
    assert.deepEqual(
      rules(mnt).map((r) => r.name),
      ['base', 'extra', unnamed.name, 'lag'],
    );

    const bad = ctl('add-rule', mnt, 'fault', '{ops: [write], paths: [d], errno: ENOTDIR}');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /layers\[0\]\.fault\.rules\[3\]\.errno: ENOTDIR is not a result of write/);
    const dup = ctl('add-rule', mnt, 'fault', '{name: extra, ops: [read], errno: EIO}');
    assert.equal(dup.status, 1);
    assert.match(dup.stderr, /a rule named extra exists already/);
    const noLayer = ctl('add-rule', mnt, 'throttle', '{ops: [read]}');
    assert.equal(noLayer.status, 1);
    assert.match(noLayer.stderr, /no layer "throttle"; the stack has fault, latency/);
    assert.equal(rules(mnt).length, 4);
  });
});

test('counters and trigger state survive adding and removing other rules', async () => {
  const yaml = `
layers:
  - fault:
      rules:
        - { name: late, ops: [read], paths: [a], after: 4, errno: EIO }
        - { name: third, ops: [read], paths: [b], every: 3, errno: EIO }
`;
  await withConfig(yaml, async (mnt) => {
    for (let i = 0; i < 2; i++) reads(mnt, 'a', 'b');
    ctlJson('add-rule', mnt, 'fault', '{name: other, ops: [read], paths: [c], errno: EIO}');
    assert.deepEqual(reads(mnt, 'a', 'b'), { a: 'ok', b: 'EIO' }, 'the 3rd read of b is the 3rd, not the 1st');
    ctlJson('rm-rule', mnt, 'other');
    assert.deepEqual(reads(mnt, 'a', 'b'), { a: 'ok', b: 'ok' });
    assert.deepEqual(reads(mnt, 'a', 'b'), { a: 'EIO', b: 'ok' }, 'the 5th read of a is past after: 4');
    assert.deepEqual(
      rules(mnt).map((r) => [r.name, r.matched, r.fired]),
      [
        ['late', 5, 1],
        ['third', 5, 1],
      ],
    );
  });
});

test("rules shows each rule's window; an added rule's window counts from its add-rule, a set keeps those that were there", async () => {
  const HOUR = 3_600_000;
  const yaml = `
layers:
  - fault:
      rules:
        - { name: mounted, ops: [read], paths: [a], window: { start: 1h, duration: 1h }, errno: EIO }
`;
  const beforeMount = Date.now();
  await withConfig(yaml, async (mnt) => {
    const afterMount = Date.now();
    const windows = (): Record<string, { from: string; to?: string }> => Object.fromEntries(rules(mnt).map((r) => [r.name, r.window!]));
    /** Asserts that an ISO time lies in [lo, hi] (ms since the epoch). */
    const between = (iso: string, lo: number, hi: number, what: string): void => {
      const t = Date.parse(iso);
      assert.ok(t >= lo && t <= hi, `${what}: ${iso} is not between ${new Date(lo).toISOString()} and ${new Date(hi).toISOString()}`);
    };
    between(windows().mounted.from, beforeMount + HOUR, afterMount + HOUR, 'a rule of the mounted config counts from the mount');

    const beforeAdd = Date.now();
    ctlJson('add-rule', mnt, 'fault', '{name: added, ops: [read], paths: [b], window: { start: 1h, duration: 1h }, errno: EIO}');
    const afterAdd = Date.now();
    const w = windows();
    between(w.added.from, beforeAdd + HOUR, afterAdd + HOUR, 'an added rule counts from its add-rule');
    between(w.added.to!, beforeAdd + 2 * HOUR, afterAdd + 2 * HOUR, 'and so does the end of its window');
    assert.equal(w.mounted.from, windows().mounted.from);

    const beforeSet = Date.now();
    const set = await ctlSet(
      mnt,
      `
layers:
  - fault:
      rules:
        - { name: mounted, ops: [read], paths: [a], window: { start: 1h, duration: 1h }, errno: EIO }
        - { name: added, ops: [read], paths: [b], window: { start: 1h, duration: 1h }, errno: EIO }
        - { name: brought, ops: [read], paths: [c], window: { start: 1h }, errno: EIO }
`,
    );
    const afterSet = Date.now();
    assert.equal(set.status, 0, set.stderr);
    const after = windows();
    assert.deepEqual([after.mounted, after.added], [w.mounted, w.added], 'rules that were there keep their origins');
    between(after.brought.from, beforeSet + HOUR, afterSet + HOUR, 'a rule new in the set config counts from the set');
    assert.equal(after.brought.to, undefined, 'a window without a duration never closes');
  });
});

test('add-rule --ttl: the rule acts, then disappears after the ttl', async () => {
  await withConfig(BASE, async (mnt) => {
    const ttl = 6000;
    const t0 = Date.now();
    ctlJson('add-rule', mnt, 'fault', '{name: brief, ops: [read], paths: [t], errno: EIO}', '--ttl', `${ttl}ms`);
    const listed = rules(mnt).map((r) => r.name);
    const seen = reads(mnt, 't');
    // The timer started after t0: until t0 + ttl the rule must be there (on a machine so loaded
    // that these calls took longer, only the expiry below is checked).
    if (Date.now() < t0 + ttl) {
      assert.deepEqual(listed, ['base', 'brief', 'lag']);
      assert.deepEqual(seen, { t: 'EIO' });
    }
    await waitFor(() => ruleNamed(mnt, 'brief') === undefined, 30000, 'the rule to expire');
    assert.ok(Date.now() >= t0 + ttl, 'not before its time');
    assert.deepEqual(reads(mnt, 't', 'a'), { t: 'ok', a: 'EIO' });
    assert.deepEqual(
      rules(mnt).map((r) => r.name),
      ['base', 'lag'],
    );
    const bad = ctl('add-rule', mnt, 'fault', '{ops: [read], errno: EIO}', '--ttl', 'soon');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /ttl "soon" is not a duration/);
  });
});

test('a ttl rule replaced by set does not take the mount down when its time comes, nor remove its namesake', async () => {
  await withConfig(BASE, async (mnt, d) => {
    const ttl = 4000;
    const added = Date.now();
    ctlJson('add-rule', mnt, 'fault', '{name: gone, ops: [read], paths: [t], errno: EIO}', '--ttl', `${ttl}ms`);
    const set = await ctlSet(mnt, 'layers:\n  - fault:\n      rules:\n        - { name: gone, ops: [read], paths: [u], errno: EIO }\n');
    assert.equal(set.status, 0, set.stderr);
    await new Promise((r) => setTimeout(r, Math.max(0, added + ttl + 1500 - Date.now())));
    assert.equal(d.child.exitCode, null, `the daemon is alive:\n${d.log()}`);
    assert.ok(isMounted(mnt));
    assert.deepEqual(
      rules(mnt).map((r) => r.name),
      ['gone'],
      "the new config's rule stays",
    );
    assert.deepEqual(reads(mnt, 't', 'u'), { t: 'ok', u: 'EIO' });
  });
});

test('rm-rule removes a rule by name (also a default name); an unknown name is an error', async () => {
  const yaml = `
layers:
  - fault:
      rules:
        - { name: base, ops: [read], paths: [a], errno: EIO }
        - { ops: [read], paths: [b], errno: EIO }
`;
  await withConfig(yaml, async (mnt) => {
    assert.deepEqual(reads(mnt, 'a', 'b'), { a: 'EIO', b: 'EIO' });
    assert.deepEqual(ctlJson('rm-rule', mnt, 'base'), { ok: true });
    assert.deepEqual(reads(mnt, 'a', 'b'), { a: 'ok', b: 'EIO' });
    assert.deepEqual(
      rules(mnt).map((r) => r.name),
      ['layers[0].rules[0]'],
    );
    ctlJson('rm-rule', mnt, 'layers[0].rules[0]');
    assert.deepEqual(reads(mnt, 'a', 'b'), { a: 'ok', b: 'ok' });
    const r = ctl('rm-rule', mnt, 'nonesuch');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no rule named nonesuch; see: interposer ctl rules MOUNTPOINT/);
  });
});

test('on a mount with metrics and a trace from its flags, add-rule, rm-rule and set work; set refuses other telemetry', async () => {
  await withTempDir('ctl-telemetry', async (dir) => {
    const config = writeConfig(dir, `${DIRECT}layers:\n  - trace: {}\n  - metrics: {}\n  - fault: { rules: [] }\n`);
    const args = ['--config', config, '--metrics', `127.0.0.1:${await freePort()}`, '--trace-file', join(dir, 't.jsonl')];
    await withMount(args, async (mnt) => {
      // Each validated the layers without the mount's telemetry, and refused them for a missing endpoint and sink.
      const added = ctlJson<{ name: string }>('add-rule', mnt, 'fault', '{ name: eio, ops: [read], paths: [a], errno: EIO }');
      assert.equal(added.name, 'eio');
      assert.deepEqual(reads(mnt, 'a'), { a: 'EIO' });
      assert.deepEqual(ctlJson('rm-rule', mnt, 'eio'), { ok: true });
      assert.deepEqual(reads(mnt, 'a'), { a: 'ok' });
      const set = await ctlSet(mnt, 'layers:\n  - metrics: {}\n  - fault: { rules: [{ ops: [read], paths: [a], errno: EIO }] }\n');
      assert.equal(set.status, 0, set.stderr);
      assert.deepEqual(reads(mnt, 'a'), { a: 'EIO' });
      const other = await ctlSet(mnt, 'telemetry: { metrics: 127.0.0.1:9 }\nlayers: []\n');
      assert.equal(other.status, 1);
      assert.match(other.stderr, /telemetry cannot change while mounted .*; leave the section out to keep it/);
      assert.deepEqual(reads(mnt, 'a'), { a: 'EIO' }, 'the refused config changed nothing');
      // A rule's ttl ends in a timer, where a refused removal would have taken the mount down.
      ctlJson('add-rule', mnt, 'fault', '{ name: brief, ops: [write], paths: [nothing], errno: EIO }', '--ttl', '200ms');
      await waitFor(() => !rules(mnt).some((r) => r.name === 'brief'), 10_000, 'the ttl rule to go');
      assert.ok(isMounted(mnt));
    });
  });
});

test('pause stops every injection (faults and delays) until resume', async () => {
  await withConfig(BASE, async (mnt) => {
    // BASE delays fsyncs of the file named "nothing".
    const fsync = `fd = os.open('nothing', os.O_WRONLY | os.O_CREAT)\nos.fsync(fd)\nprint(json.dumps(0))`;
    assert.deepEqual(reads(mnt, 'a'), { a: 'EIO' });
    assert.deepEqual(ctlJson('pause', mnt), { paused: true });
    assert.equal(ctlJson<{ paused: boolean }>('show', mnt).paused, true);
    assert.deepEqual(reads(mnt, 'a', 'a'), { a: 'ok' });
    pyJson(mnt, fsync);
    assert.deepEqual(
      rules(mnt).map((r) => [r.name, r.matched, r.fired]),
      [
        ['base', 1, 1],
        ['lag', 0, 0],
      ],
      'paused rules neither match nor fire',
    );
    assert.deepEqual(ctlJson('resume', mnt), { paused: false });
    assert.deepEqual(reads(mnt, 'a'), { a: 'EIO' });
    pyJson(mnt, fsync);
    assert.equal(ruleNamed(mnt, 'lag')!.fired, 1);
  });
});

test('wait returns once the rule has fired N times; exits 1 on timeout or for an unknown rule', async () => {
  await withConfig(BASE, async (mnt) => {
    const waiting = ctlAsync('wait', mnt, 'base', '--fired', '3', '--timeout', '60s');
    try {
      reads(mnt, 'a');
      reads(mnt, 'a');
      assert.equal(ruleNamed(mnt, 'base')!.fired, 2);
      assert.equal(waiting.child.exitCode, null, 'still waiting after 2 firings');
      reads(mnt, 'a');
      const r = await waiting.done;
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { layer: 0, kind: 'fault', name: 'base', matched: 3, fired: 3 });
    } finally {
      waiting.child.kill('SIGKILL');
    }
    // Already reached: returns at once.
    assert.equal(ctl('wait', mnt, 'base', '--fired', '2').status, 0);

    const late = ctl('wait', mnt, 'base', '--fired', '100', '--timeout', '300ms');
    assert.equal(late.status, 1);
    assert.match(late.stderr, /rule base fired 3 of 100 times before the timeout/);
    const unknown = ctl('wait', mnt, 'nonesuch', '--timeout', '1s');
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /no rule named nonesuch/);
    const badCount = ctl('wait', mnt, 'base', '--fired', 'many');
    assert.equal(badCount.status, 1);
    assert.match(badCount.stderr, /^interposer ctl: fired "many" is not a count; expected a whole number of at least 1\n$/);
    const badTimeout = ctl('wait', mnt, 'base', '--timeout', 'forever');
    assert.equal(badTimeout.status, 1);
    assert.match(badTimeout.stderr, /^interposer ctl: timeout "forever" is not a duration; expected e\.g\. 30s\n$/);
  });
});

test('crash discards what was not synced: appended bytes, an O_TRUNC overwrite, a truncation; synced data stays', async () => {
  const crashed = async (mnt: string): Promise<Record<string, string>> => {
    pyJson(
      mnt,
      `
def synced(name, data):
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data)
    os.fsync(fd)
    os.close(fd)
for n in 'abc': synced(n, b'synced ' + n.encode())
with open('a', 'ab') as f: f.write(b' and appended')
with open('b', 'wb') as f: f.write(b'overwritten')
os.truncate('c', 3)
print(json.dumps([open(n).read() for n in 'abc']))
`,
    );
    const r = ctlJson<{ files: number; bytes: number }>('crash', mnt);
    assert.equal(r.files, 3, 'three files had unsynced changes');
    return pyJson(mnt, `print(json.dumps({n: open(n).read() for n in 'abc'}))`);
  };
  const synced = { a: 'synced a', b: 'synced b', c: 'synced c' };
  await withConfig('layers:\n  - durability: {}\n', async (mnt) => {
    assert.deepEqual(await crashed(mnt), synced, 'memory backend');
  });
  await withTempDir('durable', (backing) =>
    withConfig(`backend: { type: passthrough, path: ${backing} }\nmount: {}\nlayers:\n  - durability: {}\n`, async (mnt) => {
      assert.deepEqual(await crashed(mnt), synced, 'passthrough backend, default caching');
    }),
  );
  await withConfig('layers:\n  - fault: { rules: [] }\n', async (mnt) => {
    const r = ctl('crash', mnt);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no durability layer in this mount: add `- durability: \{\}` to layers/);
  });
});

test('crash: files unlinked or replaced while open take writes, truncation and fallocate; the file that took the name is left alone', async () => {
  const crashed = (mnt: string): { ops: unknown[]; after: unknown } => {
    const ops = pyJson<unknown[]>(
      mnt,
      `
def synced(name, data):
    fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data)
    os.fsync(fd)
    return fd
gone = synced('gone', b'x' * 100)
os.unlink('gone')
old = synced('old', b'old')
os.close(synced('new', b'new'))
os.rename('new', 'old')
ops = [outcome(lambda: os.write(gone, b'more') and 'ok'), outcome(lambda: os.ftruncate(gone, 10) or 'ok'),
       outcome(lambda: os.posix_fallocate(gone, 0, 8192) or 'ok'), outcome(lambda: os.pwrite(old, b'OLD', 0) and 'ok'),
       outcome(lambda: os.ftruncate(old, 1) or 'ok'), os.pread(old, 10, 0).decode()]
os.close(gone)
os.close(old)
print(json.dumps(ops))
`,
    );
    ctlJson('crash', mnt);
    return { ops, after: pyJson(mnt, `print(json.dumps({n: open(n).read() for n in os.listdir('.')}))`) };
  };
  const want = { ops: ['ok', 'ok', 'ok', 'ok', 'ok', 'O'], after: { old: 'new' } };
  await withConfig('layers:\n  - durability: {}\n', async (mnt) => {
    assert.deepEqual(crashed(mnt), want, 'memory backend');
  });
  await withTempDir('durable', (backing) =>
    withConfig(`backend: { type: passthrough, path: ${backing} }\nmount: {}\nlayers:\n  - durability: {}\n`, async (mnt) => {
      assert.deepEqual(crashed(mnt), want, 'passthrough backend');
    }),
  );
});

test('crash: an fsync that failed made nothing durable', async () => {
  // The fault layer sits below durability: the second fsync of d fails on its way down, as a disk's would.
  const yaml = 'layers:\n  - durability: {}\n  - fault: { rules: [ { ops: [fsync], paths: [d], after: 1, errno: EIO } ] }\n';
  await withConfig(yaml, async (mnt) => {
    const failed = pyJson(
      mnt,
      `
fd = os.open('d', os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b'synced')
os.fsync(fd)
os.pwrite(fd, b'LOST', 0)
print(json.dumps(outcome(lambda: os.fsync(fd) or 'ok')))
os.close(fd)
`,
    );
    assert.equal(failed, 'EIO');
    assert.equal(ctlJson<{ files: number }>('crash', mnt).files, 1);
    assert.equal(pyJson(mnt, `print(json.dumps(open('d').read()))`), 'synced');
  });
});

test('crash: synchronous writes (O_DSYNC, O_SYNC, RWF_DSYNC, RWF_SYNC) were durable when they returned, with or without the page cache', async () => {
  // Through the page cache the kernel syncs after such a write; with direct I/O it does not, and the daemon must.
  const writes = `
def sync_open(name, flag):
    fd = os.open(name, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | flag, 0o644)
    os.write(fd, name.encode()); os.close(fd)
def sync_write(name, flag):
    fd = os.open(name, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    os.pwritev(fd, [name.encode()], 0, flag); os.close(fd)
sync_open('dsync', os.O_DSYNC); sync_open('sync', os.O_SYNC); sync_open('plain', 0)
sync_write('rwf_dsync', os.RWF_DSYNC); sync_write('rwf_sync', os.RWF_SYNC)
print(json.dumps(0))
`;
  const names = ['dsync', 'sync', 'plain', 'rwf_dsync', 'rwf_sync'];
  for (const mount of ['{}', '{ cache: direct }']) {
    await withTempDir('durable', (backing) =>
      withConfig(`backend: { type: passthrough, path: ${backing} }\nmount: ${mount}\nlayers:\n  - durability: {}\n`, async (mnt) => {
        pyJson(mnt, writes);
        assert.equal(ctlJson<{ files: number }>('crash', mnt).files, 1, `${mount}: only the plain write was undone`);
        const after = pyJson(mnt, `print(json.dumps({n: open(n).read() for n in ${JSON.stringify(names)}}))`);
        assert.deepEqual(after, { dsync: 'dsync', sync: 'sync', plain: '', rwf_dsync: 'rwf_dsync', rwf_sync: 'rwf_sync' }, mount);
      }),
    );
  }
  // The sync that makes a direct write durable goes through the layers: when it fails, so does the write.
  await withConfig('layers:\n  - fault: { rules: [ { ops: [fsync], paths: [d], errno: EIO } ] }\n', async (mnt) => {
    const r = pyJson(
      mnt,
      `
fd = os.open('d', os.O_CREAT | os.O_WRONLY | os.O_DSYNC, 0o644)
plain = os.open('d', os.O_WRONLY)
print(json.dumps([outcome(lambda: os.write(fd, b'x')), outcome(lambda: os.write(plain, b'y'))]))
`,
    );
    assert.deepEqual(r, ['EIO', 1], 'the O_DSYNC write fails with its sync; a write without the flag is not synced');
  });
});

test('crash: pages still dirty in the kernel cache are lost with it (writebackCache, a shared mapping), not written back after', async () => {
  await withTempDir('durable', (backing) =>
    withConfig(
      `backend: { type: passthrough, path: ${backing} }\nmount: { writebackCache: true }\nlayers:\n  - durability: {}\n`,
      async (mnt) => {
        // Holds both files open, their unsynced data in dirty pages, until told to end.
        const holder = spawn(
          'python3',
          [
            '-c',
            `
import mmap, os, sys
fd = os.open('f', os.O_CREAT | os.O_RDWR, 0o644)
os.write(fd, b'synced'); os.fsync(fd)
os.pwrite(fd, b'UNSYNC', 0)
fm = os.open('m', os.O_CREAT | os.O_RDWR, 0o644)
os.ftruncate(fm, 4096); os.fsync(fm)
m = mmap.mmap(fm, 4096); m[0:6] = b'MAPPED'
print('ready', flush=True)
sys.stdin.read()
`,
          ],
          { cwd: mnt, stdio: ['pipe', 'pipe', 'inherit'] },
        );
        const exited = once(holder, 'exit');
        try {
          await once(holder.stdout!, 'data');
          const r = ctlJson<{ files: number; cachedBytes: number }>('crash', mnt);
          assert.ok(r.cachedBytes >= 12, `the dirty pages written back during the crash were dropped: ${JSON.stringify(r)}`);
        } finally {
          holder.stdin!.end();
          await exited;
        }
        const after = pyJson(mnt, `print(json.dumps([open('f').read(), open('m', 'rb').read(6).hex()]))`);
        assert.deepEqual(after, ['synced', '000000000000'], 'the synced data, not what was only in the cache');
      },
    ),
  );
});
