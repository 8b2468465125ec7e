// The node table: what the kernel's lookups and forgets do to node ids, names and paths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeTable } from '../../src/vfs/node-table.ts';

const DIR = 0o040000;
const FILE = 0o100644;

test('a node lives until the kernel forgets every lookup of it', () => {
  const t = new NodeTable();
  const a = t.learn(t.root, 'a', 10, FILE);
  assert.equal(t.learn(t.root, 'a', 10, FILE), a, 'a second lookup of the same name and inode is the same node');
  t.forget(a.id, 1);
  assert.equal(t.get(a.id), a, 'one lookup left');
  t.forget(a.id, 1);
  assert.throws(() => t.get(a.id), /unknown node id/);
  const again = t.learn(t.root, 'a', 10, FILE);
  assert.notEqual(again, a, 'a forgotten node is gone for good');
  assert.equal(again.id, a.id, 'its id is handed out again');
  assert.notEqual(again.generation, a.generation, 'with another generation');
});

test('lookup counts beyond 32 bits are forgotten exactly', () => {
  const t = new NodeTable();
  const a = t.learn(t.root, 'a', 10, FILE);
  a.lookups = 2 ** 32 + 2 ** 30 + 5; // a node looked up billions of times (entry timeout 0, a long-lived mount)
  t.forget(a.id, 2 ** 32);
  assert.equal(t.get(a.id).lookups, 2 ** 30 + 5);
  t.forget(a.id, 2 ** 30);
  assert.equal(t.get(a.id).lookups, 5);
  t.forget(a.id, 4);
  assert.equal(t.get(a.id).lookups, 1);
  t.forget(a.id, 1);
  assert.throws(() => t.get(a.id), /unknown node id/);
});

test('every reuse of an id has a generation of its own', () => {
  const t = new NodeTable();
  const seen = new Set<string>();
  for (let round = 0; round < 50; round++) {
    const nodes = Array.from({ length: 1 + (round % 7) }, (_, i) => t.learn(t.root, `n${i}`, 100 + i, FILE));
    for (const n of nodes) {
      const key = `${n.id}:${n.generation}`;
      assert.ok(!seen.has(key), `${key} handed out twice`);
      seen.add(key);
      t.forget(n.id, 1);
    }
  }
  assert.equal(t.size, 1, 'only the root is left');
  assert.ok(Math.max(...[...seen].map((k) => Number(k.split(':')[0]))) <= 8, 'ids come from the freed ones');
});

test('forgetting a hard-linked node drops every name it had; other paths are unchanged', () => {
  const t = new NodeTable();
  const d = t.learn(t.root, 'd', 2, DIR);
  const e = t.learn(t.root, 'e', 3, DIR);
  const x = t.learn(d, 'x', 20, FILE, 2);
  const y = t.learn(e, 'y', 20, FILE, 2);
  assert.equal(x, y, 'two names of one inode share a node');
  const sibling = t.learn(d, 'z', 21, FILE);
  assert.equal(sibling.path, '/d/z');
  t.forget(x.id, 2);
  assert.equal(t.size, 4, 'root, d, e and z remain');
  const fresh = t.learn(e, 'y', 20, FILE, 2);
  assert.notEqual(fresh, x, 'the name leads to a new node');
  assert.equal(fresh.path, '/e/y');
  assert.equal(sibling.path, '/d/z');
});

test('names join by inode number only for files with several links', () => {
  const t = new NodeTable();
  const a = t.learn(t.root, 'a', 50, FILE);
  const b = t.learn(t.root, 'b', 50, FILE); // a removed on the host and its inode number reused
  assert.notEqual(a, b, 'one link each: two files');
  const c = t.learn(t.root, 'c', 60, FILE, 2);
  assert.equal(t.learn(t.root, 'd', 60, FILE, 2), c, 'two links: one file');
  assert.equal(t.learn(t.root, 'e', 70, DIR, 2).id === t.learn(t.root, 'f', 70, DIR, 2).id, false, 'directories never join');
});

test('a batch of forgets empties a large directory', () => {
  const t = new NodeTable();
  const d = t.learn(t.root, 'd', 2, DIR);
  const ids = Array.from({ length: 10_000 }, (_, i) => t.learn(d, `f${i}`, 100 + i, FILE).id);
  for (const id of ids) t.forget(id, 1);
  assert.equal(t.size, 2);
  assert.equal(d.children?.size, 0);
  assert.equal(t.learn(d, 'f0', 100, FILE).path, '/d/f0');
});

test('paths follow unlinks, renames and exchanges, and only the moved nodes change', () => {
  const t = new NodeTable();
  const d = t.learn(t.root, 'd', 2, DIR);
  const sub = t.learn(d, 'sub', 3, DIR);
  const deep = t.learn(sub, 'deep', 30, FILE);
  const f = t.learn(d, 'f', 31, FILE);
  const g = t.learn(d, 'g', 32, FILE);
  assert.deepEqual([deep.path, f.path, g.path], ['/d/sub/deep', '/d/f', '/d/g']);

  t.removed(d, 'g');
  assert.equal(g.detached, true);
  assert.equal(g.path, '/d/g', 'an unlinked node keeps its last path');
  const never = t.learn(d, 'never', 33, FILE); // its path was never asked for before the unlink
  t.removed(d, 'never');
  assert.equal(never.path, '/d/never');

  t.renamed(d, 'f', t.root, 'f2');
  assert.equal(f.path, '/f2');
  assert.equal(deep.path, '/d/sub/deep');

  t.renamed(d, 'sub', t.root, 'moved');
  assert.equal(sub.path, '/moved');
  assert.equal(deep.path, '/moved/deep', 'a moved directory takes its children along');

  const a = t.learn(t.root, 'a', 40, FILE);
  const b = t.learn(sub, 'b', 41, FILE);
  t.exchanged(t.root, 'a', sub, 'b');
  assert.deepEqual([a.path, b.path], ['/moved/b', '/a']);

  t.renamed(t.root, 'a', t.root, 'f2'); // replaces f
  assert.equal(b.path, '/f2');
  assert.equal(f.detached, true);
  assert.equal(f.path, '/f2', 'the replaced node keeps the path it had');
});

test('dropping the first name of a hard-linked node moves its path to the next name', () => {
  const t = new NodeTable();
  const d = t.learn(t.root, 'd', 2, DIR);
  const x = t.learn(d, 'x', 20, FILE);
  assert.equal(x.path, '/d/x');
  t.linking(x); // a LINK through the mount: the file had one name when it was learned
  assert.equal(t.learn(t.root, 'y', 20, FILE, 2), x);
  t.removed(d, 'x');
  assert.equal(x.detached, false);
  assert.equal(x.path, '/y');
  t.removed(t.root, 'y');
  assert.equal(x.detached, true);
  assert.equal(x.path, '/y');
});

test('names of one hard-linked node through renames, an exchange and removals', () => {
  const t = new NodeTable();
  const d = t.learn(t.root, 'd', 2, DIR);
  const x = t.learn(d, 'x', 20, FILE, 2);
  assert.equal(t.learn(d, 'y', 20, FILE, 2), x);
  t.renamed(d, 'y', t.root, 'z');
  assert.equal(x.path, '/d/x', 'the first name is the path');
  t.exchanged(d, 'x', t.root, 'z'); // both names of the node swap places
  assert.equal(t.learn(d, 'x', 20, FILE, 2), x);
  assert.equal(t.learn(t.root, 'z', 20, FILE, 2), x);
  assert.equal(x.path, '/z', 'the first name moved to where the second was');
  t.removed(t.root, 'x'); // not a name of it
  t.removed(t.root, 'z');
  assert.equal(x.detached, false);
  assert.equal(x.path, '/d/x', 'the second name is now the first');
  t.removed(d, 'x');
  assert.equal(x.detached, true);
  assert.equal(x.path, '/d/x', 'the last name it had');
});

test('a file changed elsewhere: its ctime moved with no write through the mount in between', () => {
  const t = new NodeTable();
  const f = t.learn(t.root, 'f', 10, FILE);
  f.wrote();
  assert.equal(f.changedElsewhere(FILE, 1000), false, 'never opened through the daemon: no pages to go stale');
  assert.equal(f.changedElsewhere(FILE, 2000), false, 'and nothing recorded');
  assert.equal(f.cachedOpen(FILE, 2000), true, 'the first open through the page cache: nothing cached to drop');
  assert.equal(f.changedElsewhere(FILE, 2000), false, 'the same ctime');
  assert.equal(f.changedElsewhere(FILE, 2000.5), true, 'a new ctime, and no write of ours (the one before any pages does not count)');
  assert.equal(f.changedElsewhere(FILE, 2000.5), false, 'recorded: told once');
  f.wrote();
  assert.equal(f.changedElsewhere(FILE, 3000), false, 'the new ctime after a write through the mount is ours');
  assert.equal(f.changedElsewhere(FILE, 4000), true, 'the write accounts for one change only');
  assert.equal(f.cachedOpen(FILE, 4000), true, 'opened again unchanged: the pages stay');
  assert.equal(f.cachedOpen(FILE, 5000), false, 'opened again after a change beside the mount: they go');
  f.uncachedOpen();
  assert.equal(f.changedElsewhere(FILE, 6000), false, 'after an open with kernel passthrough the kernel holds no pages of it');
  assert.equal(f.cachedOpen(FILE, 7000), true);
  const d = t.learn(t.root, 'd', 11, DIR);
  assert.equal(d.listingOutdated(1), false, 'a directory opened for the first time');
  assert.equal(d.listingOutdated(1), false);
  assert.equal(d.listingOutdated(2), true, 'its ctime moved since the last open');
  assert.equal(d.changedElsewhere(DIR, 3), false, 'directories: their kept listings are judged at opendir');
});
