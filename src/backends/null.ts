// The null backend: a real namespace (the shared tree) whose files behave like
// /dev/null. Writes succeed and are dropped; reads give EOF, or with `readSize`
// every regular file is that long and reads as zeros (a source of bulk reads
// that costs no memory). Only truncate/fallocate change a file's size, and not
// even those when readSize fixes it.
import { FsError, ENXIO } from '../vfs/errors.ts';
import { createTreeFs, SEEK_DATA } from './tree-fs.ts';
import type { DataStore, SyncVfs } from './tree-fs.ts';
import type { Inode, TreeOptions } from './tree.ts';

export interface NullFsOptions extends TreeOptions {
  /** When set, every regular file reports this size and reads as zeros up to it. */
  readSize?: number;
}

// What statfs reports: nothing is ever stored, so all of it stays free.
const CAPACITY_BLOCKS = 2 ** 40 / 4096;

type Node = Inode<undefined>;

export function createNullFs(options: NullFsOptions = {}): SyncVfs {
  const { readSize } = options;
  if (readSize !== undefined && (!Number.isSafeInteger(readSize) || readSize < 0)) {
    throw new RangeError(`null backend: readSize must be a non-negative integer, got ${readSize}`);
  }
  const store: DataStore<undefined> = {
    init(node: Node) {
      node.size = readSize ?? 0;
    },
    free() {},
    blocks: () => 0,
    charge() {},
    refund() {},
    space: () => ({ blocks: CAPACITY_BLOCKS, bfree: CAPACITY_BLOCKS }),
    read(node: Node, into: Buffer, offset: number) {
      if (readSize === undefined || offset >= node.size) return 0;
      const n = Math.min(into.length, node.size - offset);
      into.fill(0, 0, n);
      return n;
    },
    write: (_node: Node, data: Buffer) => data.length,
    truncate(node: Node, size: number) {
      if (readSize === undefined) node.size = size;
    },
    allocate(node: Node, offset: number, length: number, keepSize: boolean) {
      if (readSize === undefined && !keepSize) node.size = Math.max(node.size, offset + length);
    },
    punch() {},
    // The whole file is data: a file that reads as EOF has no data to find.
    seek(node: Node, offset: number, whence: number) {
      if (whence === SEEK_DATA) {
        if (readSize === undefined) throw new FsError(ENXIO);
        return offset;
      }
      return readSize === undefined ? offset : node.size;
    },
    // Copies what a read of the source would give, into a file that keeps nothing.
    copy: (_src: Node, _srcOffset: number, _dst: Node, _dstOffset: number, length: number) => (readSize === undefined ? 0 : length),
    settle() {},
  };
  return createTreeFs(store, options);
}
