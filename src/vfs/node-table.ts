// Node ids <-> paths. The kernel names files by node id and counts how many
// times it learned each id (lookup count); the vfs names files by path. A node
// lives until the kernel forgets every lookup of it. Ids are never reused, so
// the generation number can stay 0.
import { FUSE_ROOT_ID } from '../fuse/abi.ts';
import { ENOENT, FsError } from './errors.ts';

export class Node {
  readonly id: number;
  name: string;
  parent: Node | null;
  path: string;
  lookups = 0;
  /** Children the kernel knows, by name. */
  children: Map<string, Node> | null = null;
  /** Removed from the namespace while the kernel still holds it (unlinked, replaced). */
  detached = false;
  /** Open file handles of this node, to reach an unlinked file through its fd. */
  openHandles = 0;
  /** Kernel passthrough backing id shared by every open of this node, and its users. */
  backingId = 0;
  backingUsers = 0;

  constructor(id: number, name: string, parent: Node | null) {
    this.id = id;
    this.name = name;
    this.parent = parent;
    this.path = parent === null ? '/' : childPath(parent.path, name);
  }
}

export function childPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

export class NodeTable {
  private readonly nodes = new Map<number, Node>();
  private nextId = FUSE_ROOT_ID + 1;
  readonly root: Node;

  constructor() {
    this.root = new Node(FUSE_ROOT_ID, '', null);
    this.root.lookups = 1;
    this.nodes.set(FUSE_ROOT_ID, this.root);
  }

  get size(): number {
    return this.nodes.size;
  }

  /** The node for an id the kernel sent; ENOENT for an id it should not hold. */
  get(id: number): Node {
    const node = this.nodes.get(id);
    if (!node) throw new FsError(ENOENT, `unknown node id ${id}`);
    return node;
  }

  /** The node for `name` in `parent`, created if new, with one more lookup. */
  learn(parent: Node, name: string): Node {
    let children = parent.children;
    if (!children) children = parent.children = new Map();
    let node = children.get(name);
    if (!node) {
      node = new Node(this.nextId++, name, parent);
      children.set(name, node);
      this.nodes.set(node.id, node);
    }
    node.lookups++;
    return node;
  }

  forget(id: number, nlookup: number): void {
    const node = this.nodes.get(id);
    if (!node || node === this.root) return;
    node.lookups -= nlookup;
    if (node.lookups > 0) return;
    this.nodes.delete(id);
    this.unlinkNode(node);
  }

  /** `name` in `parent` no longer names that node (unlink, rmdir, replaced by rename). */
  removed(parent: Node, name: string): void {
    const node = parent.children?.get(name);
    if (node) this.unlinkNode(node);
  }

  private unlinkNode(node: Node): void {
    const siblings = node.parent?.children;
    if (siblings?.get(node.name) === node) siblings.delete(node.name);
    node.detached = true;
  }

  /** Moves the node at parent/name to newParent/newName, replacing what was there. */
  renamed(parent: Node, name: string, newParent: Node, newName: string): void {
    const node = parent.children?.get(name);
    this.removed(newParent, newName);
    if (!node) return;
    parent.children!.delete(name);
    node.parent = newParent;
    node.name = newName;
    if (!newParent.children) newParent.children = new Map();
    newParent.children.set(newName, node);
    this.repath(node);
  }

  /** RENAME_EXCHANGE: the two names swap nodes. */
  exchanged(a: Node, aName: string, b: Node, bName: string): void {
    const na = a.children?.get(aName);
    const nb = b.children?.get(bName);
    a.children?.delete(aName);
    b.children?.delete(bName);
    if (na) {
      na.parent = b;
      na.name = bName;
      (b.children ??= new Map()).set(bName, na);
      this.repath(na);
    }
    if (nb) {
      nb.parent = a;
      nb.name = aName;
      (a.children ??= new Map()).set(aName, nb);
      this.repath(nb);
    }
  }

  private repath(node: Node): void {
    node.path = childPath(node.parent!.path, node.name);
    if (node.children) for (const child of node.children.values()) this.repath(child);
  }
}
