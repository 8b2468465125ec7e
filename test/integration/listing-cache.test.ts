// The kernel keeps a directory's listing (FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE) and
// answers later readdirs from it, until the directory changes through the mount
// or beside it (seen at the next opendir); `cache: direct` and a rule that acts on readdir
// make every listing reach the daemon again. When the kernel drops its copy
// in the middle of a reader's pass, that reader goes on from the daemon, after
// the last name it was given, whatever was removed meanwhile.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { withMount, withTempDir, writeConfig } from '../helpers/mount.ts';
import { freePort, py } from '../helpers/run.ts';
import { ctlJson, scrape } from './layers-support.ts';

/** Caches that outlast the test: nothing but a change through the mount can refresh the kernel's copy. */
const LONG = ['--attr-timeout', '1h', '--entry-timeout', '1h'];

const names = (dir: string): string[] => readdirSync(dir).sort();

/** A passthrough mount of a fresh backing directory holding d/{a,b,c}. */
function withBacking<T>(args: string[], fn: (mnt: string, back: string) => Promise<T>): Promise<T> {
  return withTempDir('listing-back', (back) => {
    mkdirSync(join(back, 'd'));
    for (const n of ['a', 'b', 'c']) writeFileSync(join(back, 'd', n), '');
    return withMount(['--backend', `passthrough:${back}`, ...args], (mnt) => fn(mnt, back));
  });
}

test('a listing is kept until the directory changes, through the mount or beside it', async () => {
  const port = await freePort();
  await withBacking([...LONG, '--metrics', `127.0.0.1:${port}`], async (mnt, back) => {
    const d = join(mnt, 'd');
    const listings = async (): Promise<number> =>
      (await scrape(`http://127.0.0.1:${port}/metrics`, 'interposer_operations_total'))
        .filter((s) => s.labels.op === 'readdir')
        .reduce((sum, s) => sum + s.value, 0);
    assert.deepEqual(names(d), ['a', 'b', 'c']);
    const first = await listings();
    assert.ok(first > 0, 'the first listing came from the daemon');
    assert.deepEqual(names(d), ['a', 'b', 'c']);
    assert.equal(await listings(), first, 'listed again from the kernel copy: the daemon was not asked');
    writeFileSync(join(back, 'd', 'host'), '');
    assert.deepEqual(names(d), ['a', 'b', 'c', 'host'], 'a change beside the mount shows at the next opendir');
    const second = await listings();
    assert.ok(second > first);
    assert.deepEqual(names(d), ['a', 'b', 'c', 'host']);
    assert.equal(await listings(), second, 'and the listing read then is kept');
    writeFileSync(join(d, 'mine'), '');
    assert.deepEqual(names(d), ['a', 'b', 'c', 'host', 'mine'], 'a change through the mount drops the copy');
    assert.ok((await listings()) > second);
  });
});

/**
 * Lists d twice (with longer timeouts the third listing would come from the kernel's copy, as in the first
 * test), adds a file on the backing directory, and expects the next listing through the mount to show it.
 */
function backingChangeShows(args: string[]): Promise<void> {
  return withBacking(args, async (mnt, back) => {
    const d = join(mnt, 'd');
    assert.deepEqual(names(d), ['a', 'b', 'c']);
    assert.deepEqual(names(d), ['a', 'b', 'c']);
    writeFileSync(join(back, 'd', 'host'), '');
    assert.deepEqual(names(d), ['a', 'b', 'c', 'host']);
  });
}

test('with the attribute timeout 0 a change on the backing directory shows at the next listing', () =>
  backingChangeShows(['--attr-timeout', '0', '--entry-timeout', '0']));

test('cache: direct sends every listing to the daemon', () => backingChangeShows([...LONG, '--cache', 'direct']));

test('a readdir rule added at run time acts on a directory listed before, and on none other', async () => {
  // A fault layer with no rules yet: idle, so it keeps nothing from the kernel.
  await withTempDir('listing-cfg', async (cfg) => {
    const config = writeConfig(cfg, 'layers: [{ fault: { rules: [] } }]\n');
    await withBacking([...LONG, '--config', config], async (mnt) => {
      mkdirSync(join(mnt, 'other'));
      const d = join(mnt, 'd');
      const other = join(mnt, 'other');
      // Twice: the second listing comes from the kernel's copy (as in the first test).
      for (let i = 0; i < 2; i++) {
        assert.deepEqual(names(d), ['a', 'b', 'c']);
        assert.deepEqual(names(other), []);
      }
      ctlJson('add-rule', mnt, 'fault', '{name: nolist, ops: [readdir], paths: [d], errno: EIO}');
      assert.throws(() => readdirSync(d), /EIO/, 'the next opendir tells the kernel to drop its copy');
      assert.deepEqual(names(other), []);
      ctlJson('rm-rule', mnt, 'nolist');
      assert.deepEqual(names(d), ['a', 'b', 'c']);
    });
  });
});

/**
 * Removes every entry of `dir` while listing it (as rm -r does), after a first listing that the kernel
 * keeps; midway it makes the kernel drop its copy of the listing (as memory pressure would), so the
 * rest of the pass comes from the daemon, asked to go on after the last name the kernel handed out.
 * Prints how many it removed and how many are left.
 */
const removeWhileListing = (dir: string): string => `
import os
d = ${JSON.stringify(dir)}
os.listdir(d)
removed = 0
with os.scandir(d) as it:
    for e in it:
        os.unlink(e.path)
        removed += 1
        if removed == 1500:
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
print(removed, len(os.listdir(d)))
`;

for (const backend of ['passthrough', 'memory:1GiB']) {
  test(`${backend}: a reader removing what it lists misses no name when the kernel drops its copy midway`, () =>
    withTempDir('listing-back', (back) =>
      withMount(['--backend', backend === 'passthrough' ? `passthrough:${back}` : backend, ...LONG], async (mnt) => {
        const d = join(mnt, 'many');
        mkdirSync(d);
        for (let i = 0; i < 5000; i++) writeFileSync(join(d, `f${i}`), '');
        assert.equal(py(removeWhileListing(d)), '5000 0', 'every name listed once and removed');
        rmSync(d, { recursive: true });
      }),
    ));
}
