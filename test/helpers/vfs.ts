// Calling a backend's Vfs directly, without a mount: what an op failed with,
// and a check that a call answered synchronously.
import assert from 'node:assert/strict';
import { orThrow } from '../../src/vfs/answer.ts';
import { FsError, errnoName } from '../../src/vfs/errors.ts';
import type { Answer } from '../../src/vfs/types.ts';

/** The errno name a synchronous op failed with (thrown or returned), or 'OK'. */
export function code(fn: () => unknown): string {
  let answer: unknown;
  try {
    answer = fn();
  } catch (err) {
    if (err instanceof FsError) return err.code;
    throw err;
  }
  return answer instanceof FsError ? answer.code : 'OK';
}

/** Asserts that `fn` fails with an FsError with `errno`, thrown or returned (compared by name, so a failure reads EACCES, not 13). */
export function fails(fn: () => unknown, errno: number, message?: string): void {
  assert.throws(
    () => orThrow(fn()),
    (e: unknown) => {
      assert.ok(e instanceof FsError, `expected FsError, got ${String(e)}`);
      assert.equal(errnoName(e.errno), errnoName(errno));
      return true;
    },
    message,
  );
}

/** Asserts that `fn` answers with a returned FsError with `errno`, not a thrown one: the cheap path (vfs/types.ts). */
export function returnsFailure(fn: () => unknown, errno: number): void {
  let answer: unknown;
  assert.doesNotThrow(() => (answer = fn()), 'a failure this frequent is returned, not thrown');
  assert.ok(answer instanceof FsError, `expected a returned FsError, got ${String(answer)}`);
  assert.equal(errnoName(answer.errno), errnoName(errno));
}

/** The value of a call that must have answered synchronously (not with a Promise); a returned failure is thrown. */
export function sync<T>(answer: Answer<T>): T {
  assert.ok(!(answer instanceof Promise), 'expected a synchronous answer');
  return orThrow(answer as T | FsError);
}
