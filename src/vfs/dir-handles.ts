// Open directories: each handle keeps the listing it took at offset 0, and
// READDIR / READDIRPLUS page through it by index, so entries added or removed
// meanwhile never make a reader skip or repeat a name.
import { DIRENT_SIZE, FOPEN_CACHE_DIR, FOPEN_KEEP_CACHE } from '../fuse/abi.ts';
import { DirentWriter, openOut, writeEntryOut, type Reply } from '../fuse/replies.ts';
import type { ReadIn } from '../fuse/requests.ts';
import { SlotTable } from '../util/slot-table.ts';
import { EBADF, FsError } from './errors.ts';
import { childPath, type Node, type NodeTable } from './node-table.ts';
import { DirListing, DOT_ENTRIES } from './dir-listing.ts';
import type { Attr, MaybePromise, OpContext, OpenResult, Vfs } from './types.ts';

interface DirHandle {
  node: Node;
  fh: number;
  entries: DirListing | null;
}

const S_IFDIR = 0o040000;

export interface DirOptions {
  entryTimeoutMs: number;
  attrTimeoutMs: number;
  /** Every read reaches the daemon (`cache: direct`): and so does every listing. */
  directIo: boolean;
}

/**
 * The kernel keeps the listing across opens and answers readdir from it until the directory changes:
 * through the mount at once; on the backing store once the kernel fetches the directory's attributes
 * again and sees a new mtime (AUTO_INVAL_DATA), which is after attrTimeout, or at the first stat after
 * a listing the daemon served (that listing changed the atime).
 */
const CACHED_LISTING = FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE;

export class DirHandles {
  private readonly handles = new SlotTable<DirHandle>();
  private readonly vfs: Vfs;
  private readonly nodes: NodeTable;
  private readonly options: DirOptions;
  private readonly replyBuffer: (size: number) => Buffer;

  /** `replyBuffer(size)`: a reply with room for the header and `size` payload bytes (pooled by the session). */
  constructor(vfs: Vfs, nodes: NodeTable, options: DirOptions, replyBuffer: (size: number) => Buffer) {
    this.vfs = vfs;
    this.nodes = nodes;
    this.options = options;
    this.replyBuffer = replyBuffer;
  }

  private get(fh: number): DirHandle {
    const d = this.handles.get(fh);
    if (!d) throw new FsError(EBADF, `unknown directory handle ${fh}`);
    return d;
  }

  open(ctx: OpContext, node: Node): MaybePromise<Reply> {
    const register = (r: OpenResult): Reply => {
      const cached = !this.options.directIo && r.cacheListing !== false;
      return openOut(this.handles.add({ node, fh: r.fh, entries: null }), cached ? CACHED_LISTING : 0);
    };
    const res = this.vfs.opendir(ctx, node.path);
    return res instanceof Promise ? res.then(register) : register(res);
  }

  release(ctx: OpContext, fh: number): MaybePromise<Reply> {
    const d = this.get(fh);
    this.handles.delete(fh);
    const r = this.vfs.releasedir(ctx, d.node.path, d.fh);
    return r instanceof Promise ? r.then(() => 0) : 0;
  }

  fsync(ctx: OpContext, fh: number, datasync: boolean): MaybePromise<Reply> {
    const d = this.get(fh);
    const r = this.vfs.fsyncdir(ctx, d.node.path, d.fh, datasync);
    return r instanceof Promise ? r.then(() => 0) : 0;
  }

  read(ctx: OpContext, req: ReadIn, plus: boolean): MaybePromise<Reply> {
    const d = this.get(req.fh);
    if (d.entries === null || req.offset === 0) {
      // Attributes cost a stat of every entry on the page; on a cold disk that is a read of an inode
      // block each, which a names-only listing (ls, find -name) never pays natively. So the first
      // page carries them only for a directory whose children were looked up after an earlier
      // listing (ls -l, du, make: from their second pass on); the kernel asks READDIRPLUS for later
      // pages only after such lookups itself. Sticky: once attributes are sent, the kernel caches
      // them and the lookups that would confirm the advice never come.
      const node = d.node;
      const attrs = plus && node.lookedUpAfterListing;
      node.listed = true;
      const listed = this.vfs.readdir(ctx, node.path, d.fh);
      const keep = (list: DirListing): MaybePromise<Reply> => {
        d.entries = list;
        return this.fill(ctx, d, req, plus, attrs);
      };
      return listed instanceof Promise ? listed.then(keep) : keep(listed);
    }
    return this.fill(ctx, d, req, plus, plus);
  }

  /**
   * Packs entries from req.offset as fuse_dirent, or as fuse_direntplus for READDIRPLUS, whose entries
   * are looked up (possibly asynchronously) if `attrs`, else sent without attributes. Offsets 0
   * and 1 are '.' and '..', carrying node ids because glibc hides entries whose d_ino is 0; offset
   * k + 2 is the listing's entry k.
   */
  private fill(ctx: OpContext, d: DirHandle, req: ReadIn, plus: boolean, attrs: boolean): MaybePromise<Reply> {
    const listing = d.entries!;
    const total = listing.length + DOT_ENTRIES;
    const size = Math.max(req.size, DIRENT_SIZE + 8);
    const out = new DirentWriter(size, this.replyBuffer(size));
    const { entryTimeoutMs, attrTimeoutMs } = this.options;
    let i = req.offset;
    for (; i < DOT_ENTRIES && i < total; i++) {
      if (!out.fits(DOTS.nameBytes(i), plus)) return out.finish();
      const ino = i === 0 ? d.node.id : (d.node.parent?.id ?? d.node.id);
      out.add(DOTS, i, ino, i + 1, S_IFDIR, plus ? noEntry : undefined);
    }
    const bytes = listing.bytes;
    if (!plus) {
      const k = i - DOT_ENTRIES;
      if (k >= listing.length) return out.finish();
      const end = listing.fitting(k, out.room());
      out.addRecords(bytes, listing.start(k), listing.start(end));
      return out.finish();
    }
    const step = (): MaybePromise<Reply> => {
      for (; i < total; i++) {
        const k = i - DOT_ENTRIES;
        if (!out.fits(listing.nameBytes(k), true)) break;
        if (!attrs) {
          out.addPlusRecord(noEntry, bytes, listing.start(k), listing.start(k + 1));
          continue;
        }
        const name = listing.name(k);
        let attr: MaybePromise<Attr> | null;
        try {
          attr = this.vfs.getattr(ctx, childPath(d.node.path, name));
        } catch {
          attr = null; // vanished since the listing: send it without attributes
        }
        const emit = (a: Attr | null): void => {
          const node = a ? this.nodes.learn(d.node, name, a.ino, a.mode, a.nlink) : null;
          out.addPlusRecord(
            (buf, at) => writeEntryOut(buf, at, node?.id ?? 0, node?.generation ?? 0, a, entryTimeoutMs, attrTimeoutMs),
            bytes,
            listing.start(k),
            listing.start(k + 1),
          );
        };
        if (attr instanceof Promise) {
          return attr
            .then(emit, () => emit(null))
            .then(() => {
              i++;
              return step();
            });
        }
        emit(attr);
      }
      return out.finish();
    };
    return step();
  }
}

const DOTS = DirListing.of([
  { name: '.', ino: 0, type: S_IFDIR },
  { name: '..', ino: 0, type: S_IFDIR },
]);
const noEntry = (): void => {};
