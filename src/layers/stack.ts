// The layer stack: a Vfs that runs each call through the layers' around()
// hooks, outermost first, and then the backend. The layer list can be replaced
// at runtime (a new config, a paused injection) without remounting; calls in
// flight finish with the list they started with.
import { onSuccess } from '../vfs/answer.ts';
import type { Answer, MaybePromise, OpContext, OpenResult, Vfs } from '../vfs/types.ts';
import { makeOp, OP_NAMES, type Op, type OpName, type StatBelow } from './op.ts';
import type { Rule } from '../rules/rule.ts';

/** Runs the rest of the stack: its answer may be an FsError, returned rather than thrown (vfs/types.ts). */
export type Next = () => MaybePromise<unknown>;

/**
 * What the kernel can do without the daemon, hiding ops from the layers: serve a file's reads and
 * writes (kernel passthrough), skip its FLUSH on close (FOPEN_NOFLUSH), and answer readdir of a
 * directory it has listed before from its own copy of the listing (FOPEN_CACHE_DIR).
 */
export type KernelShortcut = 'data' | 'flush' | 'listing';

export interface Layer {
  /** 'fault', 'latency', 'throttle', 'trace', 'metrics'. */
  readonly kind: string;
  /** Injects something (faults, delays, throttling), so pausing injection skips it. */
  readonly disturbs: boolean;
  /** True when the layer cannot act on anything (no rules, no limits): the stack leaves it out. */
  readonly idle?: boolean;
  around(op: Op, next: Next): MaybePromise<unknown>;
  /** Must this layer see the ops `shortcut` would hide for `path`? If no layer must, the kernel may take it. */
  needs?(shortcut: KernelShortcut, path: string): boolean;
  /** The rules this layer acts by, for counters and the control API. */
  rules?(): Rule[];
  /** Seconds ops have spent waiting in this layer (throttle), for metrics. */
  waitedSeconds?(): number;
  /** Hands the layer the backend, for work of its own beside the op (reading data to keep for undo). */
  attach?(backend: Vfs): void;
}

export interface StackVfs extends Vfs {
  layers(): readonly Layer[];
  replace(layers: Layer[]): void;
  /** Skip disturbing layers until resumed. */
  setPaused(paused: boolean): void;
  readonly paused: boolean;
}

function run(layers: readonly Layer[], op: Op, last: () => MaybePromise<unknown>): MaybePromise<unknown> {
  const dispatch = (i: number): MaybePromise<unknown> => {
    if (i === layers.length) return last();
    let called = false;
    return layers[i].around(op, () => {
      if (called) throw new Error(`layer ${layers[i].kind} called next() twice for ${op.name}`);
      called = true;
      return dispatch(i + 1);
    });
  };
  return dispatch(0);
}

/** A shortcut an open's result offers the kernel, and how to withdraw it from that result. */
type Offer = readonly [shortcut: KernelShortcut, withdraw: (res: OpenResult) => void];

const FILE_OFFERS: readonly Offer[] = [
  ['data', (res) => (res.backingFd = undefined)],
  ['flush', (res) => (res.noFlush = false)],
];

/**
 * The ops whose results offer the kernel shortcuts: kernel passthrough and FOPEN_NOFLUSH for a file,
 * a kept listing for a directory. A layer that needs the ops a shortcut would hide has it withdrawn.
 */
const OFFERS: Partial<Record<OpName, readonly Offer[]>> = {
  open: FILE_OFFERS,
  create: FILE_OFFERS,
  opendir: [['listing', (res) => (res.cacheListing = false)]],
};

/** `result` without the offers some layer needs withdrawn, synchronous or not. */
function withdrawNeeded(
  layers: readonly Layer[],
  offers: readonly Offer[],
  path: string,
  result: MaybePromise<unknown>,
): MaybePromise<unknown> {
  let needed: Offer[] | undefined;
  for (const offer of offers) if (layers.some((l) => l.needs?.(offer[0], path))) (needed ??= []).push(offer);
  if (!needed) return result;
  return onSuccess(result as Answer<OpenResult>, (r) => {
    const res = { ...r };
    for (const [, take] of needed) take(res);
    return res;
  });
}

/** The most arguments after ctx that a Vfs op takes (read, write, setxattr, fallocate, lseek). */
const MOST_ARGS = 5;

/**
 * An op's arguments as the layers see them: without the trailing ones the caller left out. Built at
 * its length: shortening an array by setting `length` takes V8's slow path (~2 % of a read's user
 * time with one layer, bench/RESULTS.md item 82).
 */
function argsOf(a: unknown, b: unknown, c: unknown, d: unknown, e: unknown): unknown[] {
  if (e !== undefined) return [a, b, c, d, e];
  if (d !== undefined) return [a, b, c, d];
  if (c !== undefined) return [a, b, c];
  if (b !== undefined) return [a, b];
  return a !== undefined ? [a] : [];
}

export function createStack(backend: Vfs, initial: Layer[]): StackVfs {
  let all: readonly Layer[] = initial;
  let paused = false;
  let active: readonly Layer[] = initial;
  const refresh = (): void => {
    // Idle layers cost nothing: an empty rule set is as fast as no layer at all.
    active = all.filter((l) => !l.idle && !(paused && l.disturbs));
    for (const l of all) l.attach?.(backend);
  };
  refresh();
  const call = backend as unknown as Record<OpName, (ctx: OpContext, ...args: unknown[]) => MaybePromise<unknown>>;
  // Straight to the backend: a rule's look at a file's size is not an op the layers should see, delay or fail.
  const statBelow: StatBelow = (ctx, path, fh) => backend.getattr(ctx, path, fh);
  const stack: Record<string, unknown> = {
    layers: () => all,
    replace(layers: Layer[]) {
      all = layers;
      refresh();
    },
    setPaused(p: boolean) {
      paused = p;
      refresh();
    },
    get paused() {
      return paused;
    },
    destroy: () => backend.destroy?.(),
    getattrBelow: statBelow,
  };
  for (const name of OP_NAMES) {
    // syncfs always exists so that layers see it even over a backend that has nothing to sync.
    const method = call[name] ?? (name === 'syncfs' ? () => undefined : undefined);
    if (typeof method !== 'function') continue;
    if (method.length > 1 + MOST_ARGS)
      throw new Error(`vfs op ${name} takes ${method.length - 1} arguments after ctx; the stack passes on ${MOST_ARGS}`);
    const bound = method.bind(backend);
    const offers = OFFERS[name];
    // Named parameters, not a rest array: with no active layer (the common case) a call allocates
    // nothing on its way to the backend, which gets the trailing ones as undefined.
    stack[name] = (ctx: OpContext, a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown): MaybePromise<unknown> => {
      const layers = active;
      if (layers.length === 0) return bound(ctx, a, b, c, d, e);
      const op = makeOp(name, ctx, argsOf(a, b, c, d, e), statBelow);
      const result = run(layers, op, () => bound(ctx, ...op.args));
      return offers ? withdrawNeeded(layers, offers, op.path, result) : result;
    };
  }
  return stack as unknown as StackVfs;
}
