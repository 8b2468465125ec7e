// The slot table behind node ids and file handles: ids stay small and are reused once freed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlotTable } from '../../src/util/slot-table.ts';

test('ids start at 1, freed ids are handed out again, most recently freed first', () => {
  const t = new SlotTable<string>();
  const [a, b, c] = [t.add('a'), t.add('b'), t.add('c')];
  assert.deepEqual([a, b, c], [1, 2, 3]);
  assert.equal(t.delete(b), 'b');
  assert.equal(t.delete(a), 'a');
  assert.equal(t.size, 1);
  assert.equal(t.nextId(), a);
  assert.equal(t.wasUsed(t.nextId()), true);
  assert.equal(t.add('d'), a);
  assert.equal(t.add('e'), b);
  assert.equal(t.nextId(), 4);
  assert.equal(t.wasUsed(4), false);
  assert.deepEqual(
    [...t.entries()],
    [
      [1, 'd'],
      [2, 'e'],
      [3, 'c'],
    ],
  );
  assert.deepEqual([...t], ['d', 'e', 'c']);
});

test('ids the table never gave, or already freed, hold nothing and free nothing', () => {
  const t = new SlotTable<number>();
  const id = t.add(7);
  for (const bad of [0, -1, 2, 2 ** 40, 1.5]) {
    assert.equal(t.get(bad), undefined);
    assert.equal(t.delete(bad), undefined);
  }
  assert.equal(t.delete(id), 7);
  assert.equal(t.delete(id), undefined, 'a second delete is a no-op');
  assert.equal(t.size, 0);
  assert.equal(t.add(8), id, 'freed once, handed out once');
  assert.equal(t.add(9), 2);
});
