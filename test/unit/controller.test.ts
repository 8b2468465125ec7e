// The control API's controller over a stack without a mount: atomic replace,
// rules added with a TTL (on mocked timers), counters and trigger state kept
// across rebuilds.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { createMemoryFs } from '../../src/backends/memory.ts';
import { validateConfig, ConfigError } from '../../src/config/load.ts';
import { Controller, ControlError } from '../../src/control/controller.ts';
import { buildLayers } from '../../src/layers/build.ts';
import { createStack } from '../../src/layers/stack.ts';
import type { OpContext } from '../../src/vfs/types.ts';
import { code } from '../helpers/vfs.ts';

const ctx: OpContext = { uid: 0, gid: 0, pid: process.pid, unique: 1 };

function setup(layers: unknown[]) {
  const config = validateConfig({ layers });
  const backend = createMemoryFs({ sizeBytes: 1 << 20 });
  for (const name of ['/a', '/b', '/t']) backend.create(ctx, name, 2, 0o644);
  const origin = Date.now(); // the mount's: windows count from it, for rules built at mount and rebuilt later
  const stack = createStack(backend, buildLayers(config.layers, origin));
  return { stack, controller: new Controller(config, layers, stack, origin) };
}

const BASE = [{ fault: { rules: [{ name: 'base', ops: ['getattr'], paths: ['a'], errno: 'EIO' }] } }];

/** 'ok' or the errno name of a getattr of `path`. */
function stat(s: { getattr: (c: OpContext, p: string) => unknown }, path: string): string {
  const c = code(() => s.getattr(ctx, path));
  return c === 'OK' ? 'ok' : c;
}

describe('controller', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
  afterEach(() => mock.timers.reset());

  test('replace swaps the layers; a bad config throws and changes nothing', () => {
    const { stack, controller } = setup(BASE);
    assert.equal(stat(stack, '/a'), 'EIO');
    assert.throws(
      () => controller.replace({ layers: [{ fault: { rules: [{ ops: ['getattr'], errno: 'EIOO' }] } }] }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /layers\[0\]\.fault\.rules\[0\]\.errno: "EIOO" is not an errno; did you mean EIO\?/);
        return true;
      },
    );
    assert.throws(
      () => controller.replace({ backend: { type: 'null' }, layers: [] }),
      (e: unknown) => e instanceof ControlError && e.status === 409,
    );
    assert.equal(stat(stack, '/a'), 'EIO');
    controller.replace({ layers: [{ fault: { rules: [{ name: 'nb', ops: ['getattr'], paths: ['b'], errno: 'EACCES' }] } }] });
    assert.deepEqual([stat(stack, '/a'), stat(stack, '/b')], ['ok', 'EACCES']);
    assert.deepEqual(
      controller.rules().map((r) => r.name),
      ['nb'],
    );
  });

  test('a rule added with a ttl removes itself when the time comes', () => {
    const { stack, controller } = setup(BASE);
    controller.addRule('fault', { name: 'brief', ops: ['getattr'], paths: ['t'], errno: 'EIO' }, 1000);
    assert.equal(stat(stack, '/t'), 'EIO');
    mock.timers.tick(999);
    assert.equal(stat(stack, '/t'), 'EIO');
    mock.timers.tick(1);
    assert.equal(stat(stack, '/t'), 'ok');
    assert.deepEqual(
      controller.rules().map((r) => r.name),
      ['base'],
    );
  });

  test('the ttl may also be given in the rule itself', () => {
    const { stack, controller } = setup(BASE);
    controller.addRule('fault', { name: 'brief', ops: ['getattr'], paths: ['t'], errno: 'EIO', ttl: '1s' });
    assert.equal(stat(stack, '/t'), 'EIO');
    mock.timers.tick(1000);
    assert.equal(stat(stack, '/t'), 'ok');
    assert.throws(
      () => controller.addRule('fault', { ops: ['getattr'], errno: 'EIO', ttl: 'soon' }),
      /rules\[1\]\.ttl: "soon" is not a duration/,
    );
  });

  test('a ttl whose rule was replaced by a new config or removed by hand does nothing when it comes', () => {
    const { stack, controller } = setup(BASE);
    controller.addRule('fault', { name: 'x', ops: ['getattr'], paths: ['t'], errno: 'EIO' }, 1000);
    controller.replace({ layers: [{ fault: { rules: [{ name: 'x', ops: ['getattr'], paths: ['b'], errno: 'EIO' }] } }] });
    controller.addRule('fault', { name: 'y', ops: ['getattr'], paths: ['t'], errno: 'EIO' }, 1000);
    controller.removeRule('y');
    assert.doesNotThrow(() => mock.timers.tick(5000));
    assert.deepEqual(
      controller.rules().map((r) => r.name),
      ['x'],
      "the new config's namesake stays",
    );
    assert.equal(stat(stack, '/b'), 'EIO');
  });

  test("adding and removing rules keeps the others' counters and trigger state", () => {
    const { stack, controller } = setup([
      { fault: { rules: [{ name: 'third', ops: ['getattr'], paths: ['a'], every: 3, errno: 'EIO' }] } },
    ]);
    const seen: string[] = [stat(stack, '/a'), stat(stack, '/a')];
    controller.addRule('fault', { name: 'other', ops: ['getattr'], paths: ['b'], errno: 'EIO' });
    seen.push(stat(stack, '/a'));
    controller.removeRule('other');
    seen.push(stat(stack, '/a'), stat(stack, '/a'), stat(stack, '/a'));
    assert.deepEqual(seen, ['ok', 'ok', 'EIO', 'ok', 'ok', 'EIO']);
    assert.deepEqual(controller.rules(), [{ layer: 0, kind: 'fault', name: 'third', matched: 6, fired: 2 }]);
  });

  test('windows and ramps of a rule added at runtime count from when it was added, and keep counting from there across rebuilds', () => {
    mock.timers.reset();
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_700_000_000_000 });
    const mounted = Date.now();
    const { stack, controller } = setup([
      { fault: { rules: [{ name: 'early', ops: ['getattr'], paths: ['a'], window: { duration: '100s' }, errno: 'EIO' }] } },
    ]);
    mock.timers.tick(60_000);
    const added = Date.now();
    // Counted from the mount, this window would have closed 45 s ago.
    controller.addRule('fault', { name: 'late', ops: ['getattr'], paths: ['t'], window: { start: '10s', duration: '5s' }, errno: 'EIO' });
    controller.addRule('fault', { name: 'rising', ops: ['getattr'], paths: ['b'], ramp: { over: '10s' }, errno: 'EIO' });
    const ruleNamed = (name: string) =>
      stack
        .layers()
        .flatMap((l) => l.rules?.() ?? [])
        .find((r) => r.spec.name === name)!;
    assert.equal(stat(stack, '/t'), 'ok', 'not yet');
    assert.equal(ruleNamed('rising').scale(Date.now()), 0, 'the ramp starts at 0 when the rule is added');
    assert.deepEqual(
      controller.rules().map((r) => [r.name, r.window]),
      [
        ['early', { from: new Date(mounted).toISOString(), to: new Date(mounted + 100_000).toISOString() }],
        ['late', { from: new Date(added + 10_000).toISOString(), to: new Date(added + 15_000).toISOString() }],
        ['rising', { from: new Date(added).toISOString() }],
      ],
    );

    mock.timers.tick(5_000);
    controller.addRule('fault', { name: 'other', ops: ['getattr'], paths: ['nothing'], errno: 'EIO' }); // a rebuild
    assert.equal(ruleNamed('rising').scale(Date.now()), 0.5, 'half-way through its own ramp');
    mock.timers.tick(5_000);
    assert.equal(stat(stack, '/t'), 'EIO', "inside the added rule's window");
    assert.equal(stat(stack, '/a'), 'EIO', "the mount's rule still counts from the mount");

    // A replaced config: the rules that were there keep their origins; a new one counts from the replace.
    mock.timers.tick(1_000);
    const replaced = Date.now();
    const keep = (name: string) =>
      controller
        .show()
        .layers.flatMap((l) => (l as { fault: { rules: Array<{ name: string }> } }).fault.rules)
        .find((r) => r.name === name)!;
    controller.replace({
      layers: [
        {
          fault: {
            rules: [
              keep('early'),
              keep('late'),
              { name: 'fresh', ops: ['getattr'], paths: ['b'], window: { duration: '2s' }, errno: 'EIO' },
            ],
          },
        },
      ],
    });
    assert.equal(stat(stack, '/t'), 'EIO', 'still inside the window counted from its add-rule');
    assert.equal(stat(stack, '/b'), 'EIO', 'the new rule counts from the replace');
    assert.equal(controller.rules().find((r) => r.name === 'fresh')!.window!.from, new Date(replaced).toISOString());
    mock.timers.tick(4_000);
    assert.deepEqual([stat(stack, '/t'), stat(stack, '/b'), stat(stack, '/a')], ['ok', 'ok', 'EIO']);
    mock.timers.tick(30_000);
    assert.equal(stat(stack, '/a'), 'ok', "the mount's rule closed 100 s after the mount");

    // Removed and added again: the window counts from the new add.
    controller.removeRule('late');
    mock.timers.tick(1_000);
    const again = Date.now();
    controller.addRule('fault', { name: 'late', ops: ['getattr'], paths: ['t'], window: { start: '10s', duration: '5s' }, errno: 'EIO' });
    assert.equal(controller.rules().find((r) => r.name === 'late')!.window!.from, new Date(again + 10_000).toISOString());
  });

  test('waitFired resolves at the count and rejects after the timeout', async () => {
    mock.timers.reset();
    const { stack, controller } = setup(BASE);
    const waiting = controller.waitFired('base', 2, 10_000);
    stat(stack, '/a');
    stat(stack, '/a');
    assert.equal((await waiting).fired, 2);
    await assert.rejects(controller.waitFired('base', 5, 50), (e: unknown) => e instanceof ControlError && e.status === 408);
    await assert.rejects(controller.waitFired('nonesuch', 1, 50), (e: unknown) => e instanceof ControlError && e.status === 404);
  });
});
