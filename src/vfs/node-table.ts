// Node ids <-> paths. The kernel names files by node id and counts how many
// times it learned each id (lookup count); the vfs names files by path. A node
// lives until the kernel forgets every lookup of it; its id is then handed out
// again, with a new generation (the kernel asks only that the pair be unique),
// so the table is an array that never rehashes (util/slot-table.ts).
//
// Hard links: names that lead to the same backend inode share one node, so
// the kernel sees one inode (a chmod through one name shows through the other,
// nlink stays right). Such a node has several links; its path is the first.
// Only files the backend reported with more than one link, or linked through
// the mount, are indexed by inode: a link made on the host after the first
// name was learned gets a node of its own (as every name does in bindfs).
import { FUSE_ROOT_ID } from '../fuse/abi.ts';
import { SlotTable } from '../util/slot-table.ts';
import { ENOENT, ESTALE, FsError } from './errors.ts';
import { S_IFDIR, S_IFMT, S_IFREG } from './mode.ts';
import { hasSetId } from './set-id.ts';

interface Link {
  parent: Node;
  name: string;
}

/** What only an open file needs (vfs/bridge.ts keeps it), so that the other nodes do without it. */
export interface OpenState {
  /** Open file handles, to reach an unlinked file through its fd. */
  handles: number;
  /** Kernel passthrough backing id shared by every open of this node, and its users. */
  backingId: number;
  backingUsers: number;
}

const LISTED = 1;
const LOOKED_UP_AFTER_LISTING = 2;
const SET_ID = 4;
const WRITTEN = 8;
/** Left the namespace because a rename put another file in its place (not by unlink or rmdir). */
const REPLACED = 16;

export class Node {
  readonly id: number;
  /** Tells this node from earlier ones that had its id. */
  readonly generation: number;
  readonly ino: number;
  /** File type bits, to tell a reused inode number from a hard link. */
  readonly type: number;
  /**
   * The first name: its directory and the name in it. Kept in the node rather than as a Link
   * object in an array, ~100 B less for each of the tens of thousands of nodes a kernel holds;
   * `parent` is null once the node left the namespace (and for the root).
   */
  parent: Node | null;
  name: string;
  /** The names after the first, of a file with hard links. */
  private moreLinks: Link[] | null = null;
  lookups = 0;
  /** Children the kernel knows, by name (directories only). */
  children: Map<string, Node> | null = null;
  /** listed, lookedUpAfterListing and setId as bits of one field, in each of tens of thousands of nodes. */
  private flags = 0;
  /**
   * Regular files: the ctime of the file as the pages the kernel caches of it show it; NaN while it
   * caches none that we know of (never opened through the daemon, or last opened with kernel
   * passthrough or direct I/O, which drop them). Directories: the ctime at the last open. Tells a
   * change made beside the mount from one made through it.
   */
  private ctimeMs = Number.NaN;
  /** Null while no handle is open. */
  open: OpenState | null = null;
  private cachedPath = '/';
  private cachedAt = -1;
  private readonly table: NodeTable | null;

  constructor(id: number, generation: number, ino: number, type: number, link: Link | null, table: NodeTable | null) {
    this.id = id;
    this.generation = generation;
    this.ino = ino;
    this.type = type;
    this.parent = link?.parent ?? null;
    this.name = link?.name ?? '';
    this.table = table;
  }

  /**
   * Directories: a listing was served; a child was looked up after one. READDIRPLUS carries
   * attributes only once the second is true (vfs/dir-handles.ts).
   */
  get listed(): boolean {
    return this.has(LISTED);
  }
  set listed(on: boolean) {
    this.mark(LISTED, on);
  }
  get lookedUpAfterListing(): boolean {
    return this.has(LOOKED_UP_AFTER_LISTING);
  }
  set lookedUpAfterListing(on: boolean) {
    this.mark(LOOKED_UP_AFTER_LISTING, on);
  }

  /**
   * The last attributes we answered with had setuid or setgid, so a write or chown the kernel
   * flags may have bits to clear (vfs/set-id.ts); without them it has none to look for.
   */
  get setId(): boolean {
    return this.has(SET_ID);
  }
  set setId(on: boolean) {
    this.mark(SET_ID, on);
  }

  /** Changed through the mount (a write, a truncation, a new link...): the next new ctime is ours. */
  wrote(): void {
    // Only where it is judged: a mark left on a file with no pages would excuse a later change beside the mount.
    if (!Number.isNaN(this.ctimeMs)) this.flags |= WRITTEN;
  }

  /**
   * Whether attributes about to reach the kernel show a change made beside the mount to a file it
   * may cache pages of: the ctime moved (contents, size, times, mode, links) with no write of ours
   * in between, so those pages may be stale; after our own writes they are not, which is why the
   * kernel is not left to judge by mtime (AUTO_INVAL_DATA, vfs/init.ts). Records the new ctime.
   * False for anything but a regular file, and for a file with no pages cached.
   */
  changedElsewhere(mode: number, ctimeMs: number): boolean {
    const known = this.ctimeMs;
    if (Number.isNaN(known) || (mode & S_IFMT) !== S_IFREG) return false;
    this.ctimeMs = ctimeMs;
    if (this.flags & WRITTEN) {
      this.flags &= ~WRITTEN;
      return false;
    }
    return known !== ctimeMs;
  }

  /**
   * An open whose reads and writes go through the kernel's page cache: whether the pages cached by
   * earlier opens may stay (there are none, or the file did not change beside the mount since). The
   * pages show the file as of `ctimeMs` from now on.
   */
  cachedOpen(mode: number, ctimeMs: number): boolean {
    const keep = !this.changedElsewhere(mode, ctimeMs);
    this.ctimeMs = ctimeMs;
    return keep;
  }

  /** An open with kernel passthrough or direct I/O, not told to keep the pages: the kernel drops them and caches none through it. */
  uncachedOpen(): void {
    this.ctimeMs = Number.NaN;
    this.flags &= ~WRITTEN;
  }

  /**
   * Directories: records the ctime at an open and says whether it moved since the last open, so
   * that a listing the kernel kept from before is not reused. A change through the mount has
   * already made the kernel drop it; this catches changes beside the mount. Unknown: false.
   */
  listingOutdated(ctimeMs: number | undefined): boolean {
    if (ctimeMs === undefined) return false;
    const known = this.ctimeMs;
    this.ctimeMs = ctimeMs;
    return known !== ctimeMs && !Number.isNaN(known);
  }

  private has(bit: number): boolean {
    return (this.flags & bit) !== 0;
  }
  private mark(bit: number, on: boolean): void {
    this.flags = on ? this.flags | bit : this.flags & ~bit;
  }

  /** Removed from the namespace while the kernel still holds it (unlinked, replaced). */
  get detached(): boolean {
    return this.table !== null && this.parent === null;
  }

  /** The node's path, recomputed only after the namespace changed. */
  get path(): string {
    const table = this.table;
    if (table === null) return '/';
    if (this.cachedAt === table.generation) return this.cachedPath;
    // A detached node keeps its last path: ops on it go through open handles.
    if (this.parent !== null) this.cachedPath = childPath(this.parent.path, this.name);
    this.cachedAt = table.generation;
    return this.cachedPath;
  }

  /**
   * The path that reaches this node now. A node removed from the namespace (unlinked, replaced by a
   * rename) has none: its last path may name another file by now, and a chmod or a getattr sent there
   * would act on that file, or answer with its type (which the kernel takes for a broken inode: EIO).
   * Such a node is reached through an open handle or not at all: ENOENT for one unlinked or removed
   * (a shell left in a removed directory, as the backing filesystem would answer for its path), and
   * for one a rename replaced, ESTALE, as NFS answers for a handle whose file is gone: a path walk
   * that raced the rename is retried by the kernel (LOOKUP_REVAL) and reaches the file that took the
   * name, as it could have natively.
   */
  get reachablePath(): string {
    if (this.detached) throw new FsError(this.has(REPLACED) ? ESTALE : ENOENT, 'removed from the namespace');
    return this.path;
  }

  /** A rename put another file where this one was. */
  markReplaced(): void {
    this.mark(REPLACED, true);
  }

  /** This node's path may have changed, and no other's did. */
  pathChanged(): void {
    this.cachedAt = -1;
  }

  /** Whether other nodes' paths go through this one. */
  get hasChildren(): boolean {
    return this.children !== null && this.children.size > 0;
  }

  /** Which of this node's names `name` in `parent` is: 0 for the first, -1 for none. */
  linkIndex(parent: Node, name: string): number {
    if (this.parent === parent && this.name === name) return 0;
    const more = this.moreLinks;
    if (more !== null) for (let k = 0; k < more.length; k++) if (more[k]!.parent === parent && more[k]!.name === name) return k + 1;
    return -1;
  }

  /** Renames name number `index` (from linkIndex) to `name` in `parent`. */
  setLink(index: number, parent: Node, name: string): void {
    if (index === 0) {
      this.parent = parent;
      this.name = name;
    } else {
      this.moreLinks![index - 1] = { parent, name };
    }
  }

  addLink(parent: Node, name: string): void {
    if (this.parent === null) this.setLink(0, parent, name);
    else (this.moreLinks ??= []).push({ parent, name });
  }

  /** Drops name number `index`; the next name, if any, becomes the first. */
  removeLink(index: number): void {
    const more = this.moreLinks;
    if (index > 0) more!.splice(index - 1, 1);
    else if (more !== null && more.length > 0) {
      const next = more.shift()!;
      this.setLink(0, next.parent, next.name);
    } else this.parent = null;
    if (more !== null && more.length === 0) this.moreLinks = null;
  }

  /** Takes this node out of every directory that names it, and out of the namespace. */
  unlinkAll(): void {
    const first = this.parent;
    if (first !== null && first.children?.get(this.name) === this) first.children.delete(this.name);
    const more = this.moreLinks;
    if (more !== null) {
      for (let k = 0; k < more.length; k++) {
        const { parent, name } = more[k]!;
        if (parent.children?.get(name) === this) parent.children.delete(name);
      }
    }
    this.parent = null;
    // Written only when set: V8 treats a field written only at construction as constant, and writing
    // it again (null over null, at a node's first forget) made it mutable for every node, which
    // discards the compiled code that relied on it.
    if (more !== null) this.moreLinks = null;
  }
}

/**
 * A count the kernel sent, as a small integer where it is one. The decoders hand counts over as
 * doubles (u64 halves joined, BATCH_FORGET's Float64Array); subtracted as such from a node's lookup
 * count they made V8 widen that field from small integers to doubles at a daemon's first forget,
 * which discarded the compiled code of every request that touches a node (LOOKUP, GETATTR, OPEN and
 * RELEASE's bookkeeping, paths) just as the next burst of requests came. Past 2^30 the double is kept: the count stays exact.
 */
function smallInteger(n: number): number {
  return n < 0x4000_0000 ? n | 0 : n;
}

export function childPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

export class NodeTable {
  private readonly nodes = new SlotTable<Node>();
  /** Nodes of files with several links, by backend inode number, to join their names. */
  private readonly byIno = new Map<number, Node>();
  /** Ids handed out again so far: each reuse takes the next as its generation. */
  private reuses = 0;
  /** Bumped when a directory with known children moves, which changes their paths. */
  generation = 0;
  readonly root: Node;

  constructor() {
    this.root = new Node(FUSE_ROOT_ID, 0, 1, S_IFDIR, null, null);
    this.root.lookups = 1;
    if (this.nodes.add(this.root) !== FUSE_ROOT_ID) throw new Error('the root must get node id 1');
  }

  get size(): number {
    return this.nodes.size;
  }

  all(): IterableIterator<Node> {
    return this.nodes[Symbol.iterator]();
  }

  /** The node for an id the kernel sent; ENOENT for an id it should not hold. */
  get(id: number): Node {
    const node = this.nodes.get(id);
    if (!node) throw new FsError(ENOENT, `unknown node id ${id}`);
    return node;
  }

  /**
   * The node `name` in `parent` now leads to (inode `ino`, type from `mode`, `nlink` names), with
   * one more lookup.
   */
  learn(parent: Node, name: string, ino: number, mode: number, nlink = 1): Node {
    const type = mode & S_IFMT;
    const linked = nlink > 1 && type !== S_IFDIR;
    const children = (parent.children ??= new Map());
    let node = children.get(name);
    if (node && (node.ino !== ino || node.type !== type)) {
      // Replaced behind our back (e.g. in the backing directory).
      this.dropLink(node, parent, name);
      node = undefined;
    }
    if (!node) {
      const twin = linked ? this.byIno.get(ino) : undefined;
      if (twin && twin.type === type && !twin.detached) {
        node = twin;
        node.addLink(parent, name);
      } else {
        const id = this.nodes.nextId();
        node = new Node(id, this.nodes.wasUsed(id) ? ++this.reuses : 0, ino, type, { parent, name }, this);
        this.nodes.add(node);
        if (linked) this.byIno.set(ino, node);
      }
      children.set(name, node);
    } else if (linked && !this.byIno.has(ino)) {
      this.byIno.set(ino, node);
    }
    node.lookups++;
    node.setId = hasSetId(mode);
    return node;
  }

  /** `node` is about to get another name through the mount: the lookup of that name should join it. */
  linking(node: Node): void {
    if (node.type !== S_IFDIR && !node.detached) this.byIno.set(node.ino, node);
  }

  /** Forgets still to apply, as (ids, counts, next index) batches. */
  private readonly laterForgets: { ids: Float64Array; counts: Float64Array; next: number }[] = [];

  /**
   * Queues a batch of forgets for settle(). Nothing answers a forget, and a batch of 10,000 applied
   * on arrival delayed the request queued behind it by milliseconds (bench/RESULTS.md item 15).
   * Applying them later changes no answer in between: lookup counts only add up, so a name
   * looked up again before its forget is applied keeps its node, with the count the kernel holds;
   * and the kernel sends nothing else for an id it forgot.
   */
  forgetLater(ids: Float64Array, counts: Float64Array): void {
    if (ids.length > 0) this.laterForgets.push({ ids, counts, next: 0 });
  }

  get forgetsPending(): boolean {
    return this.laterForgets.length > 0;
  }

  /** Applies up to `budget` queued forgets, oldest first. */
  settle(budget: number): void {
    const queue = this.laterForgets;
    while (budget > 0 && queue.length > 0) {
      const batch = queue[0]!;
      const end = Math.min(batch.ids.length, batch.next + budget);
      for (let i = batch.next; i < end; i++) this.forget(batch.ids[i]!, batch.counts[i]!);
      budget -= end - batch.next;
      batch.next = end;
      if (end === batch.ids.length) queue.shift();
    }
  }

  forget(id: number, nlookup: number): void {
    const node = this.nodes.get(id);
    if (!node || node === this.root) return;
    node.lookups -= smallInteger(nlookup);
    if (node.lookups > 0) return;
    this.nodes.delete(id);
    if (this.byIno.get(node.ino) === node) this.byIno.delete(node.ino);
    // No other node's path goes through this one (the kernel forgets children before their
    // directory), so paths stay valid: no generation bump, which would make every node recompute
    // its path. Drop storms (10,000 forgets after drop_caches) come through here.
    node.unlinkAll();
  }

  /** `name` in `parent` no longer names anything (unlink, rmdir, replaced by rename). */
  removed(parent: Node, name: string): void {
    const node = parent.children?.get(name);
    if (node) this.dropLink(node, parent, name);
  }

  // Only the node's own path can change here (to its next hard link): a removed directory was
  // empty, and one replaced behind our back keeps the path its known children were reached by. So no
  // generation bump, which would make every node build its path again (an rm -rf of 10,000 files
  // did that 10,000 times).
  private dropLink(node: Node, parent: Node, name: string): void {
    if (parent.children?.get(name) === node) parent.children.delete(name);
    const index = node.linkIndex(parent, name);
    if (index < 0) return;
    if (index === 0) void node.path; // a node that leaves the namespace keeps the path it had
    node.removeLink(index);
    if (index === 0) node.pathChanged();
  }

  /** After `node` moved: its own path changed, and its descendants' too if it has any. */
  private moved(node: Node): void {
    if (node.hasChildren) this.generation++;
    else node.pathChanged();
  }

  /** Moves parent/name to newParent/newName, replacing what was there. */
  renamed(parent: Node, name: string, newParent: Node, newName: string): void {
    const node = parent.children?.get(name);
    const target = newParent.children?.get(newName);
    if (node === target && node) return; // two links of one inode: a no-op
    this.removed(newParent, newName);
    if (target?.detached) target.markReplaced();
    if (!node) return;
    parent.children!.delete(name);
    const index = node.linkIndex(parent, name);
    if (index >= 0) node.setLink(index, newParent, newName);
    (newParent.children ??= new Map()).set(newName, node);
    this.moved(node);
  }

  /** RENAME_EXCHANGE: the two names swap nodes. */
  exchanged(a: Node, aName: string, b: Node, bName: string): void {
    const na = a.children?.get(aName);
    const nb = b.children?.get(bName);
    // Both names are found before either changes: they may be two names of one node.
    const la = na ? na.linkIndex(a, aName) : -1;
    const lb = nb ? nb.linkIndex(b, bName) : -1;
    a.children?.delete(aName);
    b.children?.delete(bName);
    if (na && la >= 0) {
      na.setLink(la, b, bName);
      (b.children ??= new Map()).set(bName, na);
    }
    if (nb && lb >= 0) {
      nb.setLink(lb, a, aName);
      (a.children ??= new Map()).set(aName, nb);
    }
    if (na) this.moved(na);
    if (nb) this.moved(nb);
  }
}
