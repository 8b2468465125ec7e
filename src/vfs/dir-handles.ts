// Open directories: each handle keeps the listing it took at offset 0 and pages
// READDIR / READDIRPLUS through it. Offsets are the backend's cookies, which
// outlive changes to the directory: the kernel may pass a cookie one handle
// sent to another (it keeps listings across opens), and a reader resuming after
// an entry removed meanwhile must neither skip nor repeat the others.
import { DIRENT_SIZE, FOPEN_CACHE_DIR, FOPEN_KEEP_CACHE, OUT_HEADER_SIZE } from '../fuse/abi.ts';
import { DirentWriter, openOut, replyBufferUnsafe, writeEntryOut, type Reply } from '../fuse/replies.ts';
import type { ReaddirIn } from '../fuse/requests.ts';
import { SlotTable } from '../util/slot-table.ts';
import { replyTo } from './answer.ts';
import { EBADF, ENOENT, FsError } from './errors.ts';
import { childPath, NodeTable, type Node } from './node-table.ts';
import { DirListing, madeUpName } from './dir-listing.ts';
import { S_IFDIR, S_IFREG } from './mode.ts';
import type { Answer, Attr, MaybePromise, OpContext, OpenResult, Vfs } from './types.ts';

/** What directory handles ask of the filesystem. */
export type DirVfs = Pick<Vfs, 'opendir' | 'readdir' | 'releasedir' | 'fsyncdir' | 'getattr'>;

interface DirHandle {
  node: Node;
  fh: number;
  /** What the backend listed last, from offset 0 or from the cookie a READDIR named. */
  entries: DirListing | null;
  /** Where the page after the last one sent starts in `entries`, and the cookie that asks for it. */
  resumeAt: number;
  resumeCookie: bigint;
}

export interface DirOptions {
  entryTimeoutMs: number;
  attrTimeoutMs: number;
  /** Every read reaches the daemon (`cache: direct`): and so does every listing. */
  directIo: boolean;
}

/**
 * The kernel keeps the listing across opens and answers readdir from it until the directory changes:
 * through the mount at once (the kernel drops its copy itself); on the backing store at the next
 * open, whose ctime differs from the one before (Node.listingOutdated): that open keeps the
 * listing it reads, not the old one.
 */
const CACHED_LISTING = FOPEN_CACHE_DIR | FOPEN_KEEP_CACHE;

export class DirHandles {
  private readonly handles = new SlotTable<DirHandle>();
  private readonly vfs: DirVfs;
  private readonly nodes: NodeTable;
  private readonly options: DirOptions;
  private readonly replyBuffer: (size: number) => Buffer;
  private readonly dropAttributes: (node: Node) => void;

  /**
   * `replyBuffer(size)`: a reply with room for the header and `size` payload bytes (pooled by the session).
   * `dropAttributes(node)`: makes the kernel fetch the node's attributes again.
   */
  constructor(
    vfs: DirVfs,
    nodes: NodeTable,
    options: DirOptions,
    replyBuffer: (size: number) => Buffer,
    dropAttributes: (node: Node) => void,
  ) {
    this.vfs = vfs;
    this.nodes = nodes;
    this.options = options;
    this.replyBuffer = replyBuffer;
    this.dropAttributes = dropAttributes;
  }

  /**
   * Pages a made-up listing through directory handles of their own, as the kernel asks for a listing:
   * READDIRPLUS for the first page, READDIR for the others. A daemon's first real listing otherwise
   * runs this code for the first time, compiling each function as it is first called, and took about
   * a millisecond longer to build its first page (bench/RESULTS.md item 68). The backend's part, reading
   * the directory, has its own warm-up (backends/backing-listing.ts). Once a process is enough.
   */
  static warmUp(): void {
    if (pagingWarm) return;
    pagingWarm = true;
    const listing = new DirListing(WARM_UP_ENTRIES);
    for (let i = 0; i < WARM_UP_ENTRIES; i++) {
      // Inode numbers and cookies past 2^32, as ext4's hash cookies are.
      listing.push(madeUpName(i, 24), 2 ** 32 + i, i % 5 === 0 ? S_IFDIR : S_IFREG, 2 ** 33 + i * 65_537);
    }
    const fs: DirVfs = {
      opendir: () => ({ fh: 0, ctimeMs: 0 }),
      readdir: () => listing,
      releasedir: () => undefined,
      fsyncdir: () => undefined,
      getattr: () => new FsError(ENOENT),
    };
    const nodes = new NodeTable();
    const dirs = new DirHandles(fs, nodes, WARM_UP_OPTIONS, replyBufferUnsafe, () => {});
    const ctx: OpContext = { uid: 0, gid: 0, pid: 0, unique: 0 };
    for (let round = 0; round < WARM_UP_ROUNDS; round++) {
      const fh = (dirs.open(ctx, nodes.root) as Buffer).readUInt32LE(OUT_HEADER_SIZE);
      const handle = dirs.handles.get(fh)!;
      let offset = 0n;
      for (let plus = true; ; plus = false) {
        const page = dirs.read(ctx, { fh, offset, size: WARM_UP_PAGE }, WARM_UP_PAGE, plus) as Buffer;
        if (page.length === OUT_HEADER_SIZE) break;
        offset = handle.resumeCookie;
      }
      dirs.release(ctx, fh);
    }
  }

  /** The backend's handle of an open directory `node`, if it has one (for one no name reaches any more). */
  backendHandleOf(node: Node): number | undefined {
    for (const d of this.handles) if (d.node === node) return d.fh;
    return undefined;
  }

  private get(fh: number): DirHandle {
    const d = this.handles.get(fh);
    if (!d) throw new FsError(EBADF, `unknown directory handle ${fh}`);
    return d;
  }

  open(ctx: OpContext, node: Node): MaybePromise<Reply> {
    const register = (r: OpenResult): Reply => {
      const outdated = node.listingOutdated(r.ctimeMs);
      // The kernel stamps the listing it keeps with the directory's mtime as it knows it, and drops the
      // listing when it learns another: learning the new one first saves reading the listing twice.
      if (outdated) this.dropAttributes(node);
      const flags = this.options.directIo || r.cacheListing === false ? 0 : outdated ? FOPEN_CACHE_DIR : CACHED_LISTING;
      return openOut(this.handles.add({ node, fh: r.fh, entries: null, resumeAt: 0, resumeCookie: 0n }), flags);
    };
    return replyTo(this.vfs.opendir(ctx, node.reachablePath), register);
  }

  release(ctx: OpContext, fh: number): MaybePromise<Reply> {
    const d = this.get(fh);
    this.handles.delete(fh);
    return replyTo(this.vfs.releasedir(ctx, d.node.path, d.fh), done);
  }

  fsync(ctx: OpContext, fh: number, datasync: boolean): MaybePromise<Reply> {
    const d = this.get(fh);
    return replyTo(this.vfs.fsyncdir(ctx, d.node.path, d.fh, datasync), done);
  }

  /** `size`: the page's payload bytes, what the request asks for capped at what INIT negotiated. */
  read(ctx: OpContext, req: ReaddirIn, size: number, plus: boolean): MaybePromise<Reply> {
    const d = this.get(req.fh);
    const from = req.offset;
    if (d.entries !== null && from !== 0n) {
      // Mostly the page after the last one sent; a cookie this listing lacks (another handle's, passed
      // on by the kernel when it dropped its copy midway) is looked up again below.
      const k = from === d.resumeCookie ? d.resumeAt : d.entries.indexAfter(from, d.resumeAt);
      if (k >= 0) return this.fill(ctx, d, k, size, plus, plus);
    }
    // Attributes cost a stat of every entry on the page; on a cold disk that is a read of an inode
    // block each, which a names-only listing (ls, find -name) never pays natively. So the first
    // page carries them only for a directory whose children were looked up after an earlier
    // listing (ls -l, du, make: from their second pass on); the kernel asks READDIRPLUS for later
    // pages only after such lookups itself. Sticky: once attributes are sent, the kernel caches
    // them and the lookups that would confirm the advice never come.
    const node = d.node;
    const attrs = plus && node.lookedUpAfterListing;
    node.listed = true;
    return replyTo(this.vfs.readdir(ctx, node.path, d.fh, from), (list: DirListing) => {
      d.entries = list;
      d.resumeAt = 0; // the new listing starts after `from`
      d.resumeCookie = from;
      return this.fill(ctx, d, 0, size, plus, attrs);
    });
  }

  /**
   * Packs the listing's entries from index `k` as fuse_dirent, or as fuse_direntplus for READDIRPLUS,
   * whose entries are looked up (possibly asynchronously) if `attrs`, else sent without attributes
   * ('.' and '..' always are: the kernel ignores them there).
   */
  private fill(ctx: OpContext, d: DirHandle, k: number, size: number, plus: boolean, attrs: boolean): MaybePromise<Reply> {
    // A removed directory's last path may name another one now: its entries go without attributes.
    if (d.node.detached) attrs = false;
    const listing = d.entries!;
    const room = Math.max(size, DIRENT_SIZE + 8);
    const out = new DirentWriter(room, this.replyBuffer(room));
    const bytes = listing.bytes;
    const sent = (end: number): Buffer => {
      if (end > 0) {
        d.resumeAt = end;
        d.resumeCookie = listing.cookie(end - 1);
      }
      return out.finish();
    };
    if (!plus) {
      const end = listing.fitting(k, out.room());
      out.addRecords(bytes, listing.start(k), listing.start(end));
      return sent(end);
    }
    const { entryTimeoutMs, attrTimeoutMs } = this.options;
    const words = listing.recordWords;
    const step = (): MaybePromise<Reply> => {
      for (; k < listing.length; k++) {
        if (!out.fits(listing.nameBytes(k), true)) break;
        if (!attrs || listing.isDot(k)) {
          out.addPlusRecord(null, words, listing.start(k), listing.start(k + 1));
          continue;
        }
        const name = listing.name(k);
        let attr: Answer<Attr> | null;
        try {
          attr = this.vfs.getattr(ctx, childPath(d.node.path, name));
        } catch {
          attr = null; // vanished since the listing: send it without attributes
        }
        const emit = (answer: Attr | FsError | null): void => {
          const a = answer instanceof FsError ? null : answer;
          const node = a ? this.nodes.learn(d.node, name, a.ino, a.mode, a.nlink) : null;
          out.addPlusRecord(
            (buf, at) => writeEntryOut(buf, at, node?.id ?? 0, node?.generation ?? 0, a, entryTimeoutMs, attrTimeoutMs),
            words,
            listing.start(k),
            listing.start(k + 1),
          );
        };
        if (attr instanceof Promise) {
          return attr
            .then(emit, () => emit(null))
            .then(() => {
              k++;
              return step();
            });
        }
        emit(attr);
      }
      return sent(k);
    };
    return step();
  }
}

const done = (): Reply => 0;

let pagingWarm = false;
const WARM_UP_ENTRIES = 2000;
const WARM_UP_ROUNDS = 4;
/** What the kernel asks for a page since Linux 6.16 (glibc's 32 KiB getdents buffer). */
const WARM_UP_PAGE = 32 * 1024;
const WARM_UP_OPTIONS: DirOptions = { entryTimeoutMs: 1000, attrTimeoutMs: 1000, directIo: false };
