// Calling a backend's Vfs directly, without a mount: what an op failed with,
// and a check that a call answered synchronously.
import assert from 'node:assert/strict';
import { FsError, errnoName } from '../../src/vfs/errors.ts';

/** The errno name an op failed with, or 'OK'. */
export function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof FsError) return err.code;
    throw err;
  }
  return 'OK';
}

/** Asserts that `fn` throws an FsError with `errno` (compared by name, so a failure reads EACCES, not 13). */
export function fails(fn: () => unknown, errno: number): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FsError, `expected FsError, got ${String(e)}`);
    assert.equal(errnoName(e.errno), errnoName(errno));
    return true;
  });
}

/** The value of a call that must have answered synchronously (not with a Promise). */
export function sync<T>(value: T | Promise<T>): T {
  assert.ok(!(value instanceof Promise), 'expected a synchronous answer');
  return value as T;
}
