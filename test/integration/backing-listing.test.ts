// A large ext4 directory whose blocks are not in memory is read in ranges of
// its hash order at once (backends/backing-listing.ts). The pieces must join
// into exactly what one reader gets: the same entries, in the same order, with
// the same cookies. On an ext4 of its own (a loop device with direct I/O, so
// that dropped caches mean reads from the image), as root.
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, readdirSync, readlinkSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { listDir } from '../../src/backends/backing-listing.ts';
import type { DirListing } from '../../src/vfs/dir-listing.ts';
import { withExt4, withMount } from '../helpers/mount.ts';
import { sh } from '../helpers/run.ts';

const FILES = 20_000; // ~700 KiB of directory: past the size read in ranges, ten getdents64 reads

/** Names of every length a record pads differently for, and some that are not ASCII. */
const nameOf = (i: number): string => (i % 97 === 0 ? `é☃-${i}` : `n${i}-`.padEnd(3 + (i % 61), 'x'));

const dropCaches = (): void => void sh('sync && echo 3 > /proc/sys/vm/drop_caches');

/** FS/NAME made with `files` empty files named by nameOf(). */
function filledDir(fs: string, name: string, files = FILES): string {
  const dir = join(fs, name);
  mkdirSync(dir);
  for (let i = 0; i < files; i++) writeFileSync(join(dir, nameOf(i)), '');
  return dir;
}

/** This process's open files on `path`: a range read on the pool has one of its own. */
function openFilesOn(path: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) n++;
    } catch {
      // closed since the listing of /proc/self/fd
    }
  }
  return n;
}

function assertSameListing(actual: DirListing, expected: DirListing, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: entries`);
  for (let k = 0; k < expected.length; k++) {
    if (actual.name(k) !== expected.name(k) || actual.cookie(k) !== expected.cookie(k)) {
      assert.fail(`${what}: entry ${k} is ${actual.name(k)}@${actual.cookie(k)}, one reader had ${expected.name(k)}@${expected.cookie(k)}`);
    }
  }
  const end = expected.start(expected.length);
  assert.ok(actual.bytes.subarray(0, end).equals(expected.bytes.subarray(0, end)), `${what}: the fuse_dirent records`);
}

test('a large ext4 directory read in ranges at once is exactly what one reader lists: entries, order and cookies', () =>
  withExt4(async (fs) => {
    const dir = filledDir(fs, 'many');
    mkdirSync(join(dir, 'sub'));
    const fd = openSync(dir, 'r');
    try {
      const serial = listDir(fd, 0n, Infinity);
      assert.ok(!(serial instanceof Promise), 'one reader lists here');
      assert.equal(serial.length, FILES + 3);
      for (const cold of [false, true]) {
        if (cold) dropCaches();
        const ranged = listDir(fd, 0n, 0);
        assert.ok(ranged instanceof Promise, 'read on the pool, in ranges');
        assert.equal(openFilesOn(dir), 4, 'the handle goes on with the first range; three more have files of their own');
        assertSameListing(await ranged, serial, cold ? 'ranges, cold' : 'ranges');
        assert.equal(openFilesOn(dir), 1, "the ranges' files are closed");
      }
      // A listing from a cookie (the kernel resuming after it dropped its copy) is one reader's.
      const k = 12_345;
      const rest = listDir(fd, serial.cookie(k), 0);
      assert.ok(!(rest instanceof Promise));
      assert.deepEqual(
        rest.toArray().map((e) => e.name),
        serial
          .toArray()
          .slice(k + 1)
          .map((e) => e.name),
      );
    } finally {
      closeSync(fd);
    }
  }));

test('names created and removed while the ranges are read leave every other name listed exactly once', () =>
  withExt4(async (fs) => {
    const dir = filledDir(fs, 'busy');
    dropCaches();
    const fd = openSync(dir, 'r');
    try {
      const ranged = listDir(fd, 0n, 0);
      assert.ok(ranged instanceof Promise);
      // While the pool reads: a thousand names removed, a thousand new ones (block splits included).
      for (let i = 0; i < 1000; i++) {
        unlinkSync(join(dir, nameOf(i * 7)));
        writeFileSync(join(dir, `new-${i}`), '');
      }
      const names = (await ranged).toArray().map((e) => e.name);
      assert.equal(new Set(names).size, names.length, 'no name twice');
      const listed = new Set(names);
      const touched = new Set(Array.from({ length: 1000 }, (_, i) => i * 7));
      for (let i = 0; i < FILES; i++) if (!touched.has(i)) assert.ok(listed.has(nameOf(i)), `${nameOf(i)} listed`);
    } finally {
      closeSync(fd);
    }
  }));

test('a cold listing of a large ext4 directory through a mount is the backing directory’s, in its order', () =>
  withExt4(async (fs) => {
    const dir = filledDir(fs, 'many');
    const native = readdirSync(dir);
    await withMount(['--backend', `passthrough:${fs}`], async (mnt) => {
      for (let pass = 0; pass < 3; pass++) {
        dropCaches();
        assert.deepEqual(readdirSync(join(mnt, 'many')), native, `cold listing ${pass + 1}`);
      }
    });
  }));

test('a large ext4 directory that is not hashed is listed by one reader, as it is', () =>
  withExt4(async (fs) => {
    const files = 6000; // ~200 KiB of directory: each name is looked for in every block before it
    const dir = filledDir(fs, 'linear', files);
    assert.ok(statSync(dir).size >= 128 * 1024, 'as large as a directory read in ranges');
    const fd = openSync(dir, 'r');
    try {
      const serial = listDir(fd, 0n, Infinity);
      assert.ok(!(serial instanceof Promise));
      assert.equal(serial.length, files + 2);
      dropCaches();
      const cold = listDir(fd, 0n, 0);
      assert.ok(!(cold instanceof Promise), 'byte offsets for cookies: no ranges');
      assertSameListing(cold, serial, 'cold');
    } finally {
      closeSync(fd);
    }
  }, '-O ^dir_index'));
