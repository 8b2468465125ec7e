// The matcher and trigger every disturbing layer shares. A rule first matches
// an op (which ops, which paths, which process, how large), then its trigger
// decides whether to act this time (counts, bytes, windows, probability).
import { isDeepStrictEqual } from 'node:util';
import picomatch from 'picomatch';
import { OP_GROUPS, OP_NAMES, type Op, type OpName } from '../layers/op.ts';
import type { KernelShortcut } from '../layers/stack.ts';
import { deriveSeed, Rng } from './rng.ts';

export interface Range {
  min?: number;
  max?: number;
}

/** A rule's match and trigger, with units already resolved (ms, bytes). */
export interface RuleSpec {
  name: string;
  ops?: string[];
  paths?: string[];
  exclude?: string[];
  process?: { pid?: number[]; comm?: string[]; uid?: number[] };
  /** I/O size of read/write/fallocate/copy. */
  size?: Range;
  /** Size of the regular file the op is about, before the op (ops on anything else match no range). */
  fileSize?: Range;
  probability?: number;
  /** Skip the first N matching ops. */
  after?: number;
  /** Act on every Nth matching op (counted after `after`). */
  every?: number;
  /** Act at most N times. */
  times?: number;
  /** Act only once N bytes of matching I/O have passed. */
  afterBytes?: number;
  /**
   * Active from `start` for `duration` ms after the rule's origin (the mount's start, or when a rule added at
   * runtime was added), or between wall-clock times.
   */
  window?: { start?: number; duration?: number; from?: string; to?: string };
  /** Probability (and delay) scale rising from `from` to 1 over `over` ms from the window's start. */
  ramp?: { over: number; from?: number };
}

export interface RuleCounters {
  matched: number;
  fired: number;
}

/** The ops each kernel shortcut hides from the daemon. */
export const HIDDEN_OPS: Readonly<Record<KernelShortcut, readonly OpName[]>> = {
  data: ['read', 'write'],
  flush: ['flush'],
  listing: ['readdir'],
};

export function expandOps(ops: string[] | undefined): Set<OpName> | null {
  if (!ops || ops.length === 0) return null;
  const out = new Set<OpName>();
  for (const o of ops) for (const n of (OP_NAMES as readonly string[]).includes(o) ? [o as OpName] : (OP_GROUPS[o] ?? [])) out.add(n);
  return out;
}

export class Rule {
  readonly spec: RuleSpec;
  readonly counters: RuleCounters = { matched: 0, fired: 0 };
  private readonly ops: Set<OpName> | null;
  private readonly include: ((p: string) => boolean) | null;
  private readonly exclude: ((p: string) => boolean) | null;
  private rng: Rng;
  private readonly seed: number;
  private readonly origin: number;
  private readonly windowStart: number;
  private readonly windowEnd: number;
  private bytes = 0;
  private eligible = 0;
  /** Set while a rule is paused or expired; it neither matches nor fires. */
  disabled = false;

  /** `origin` is when the mount (or the rule, for rules added at runtime) started, in ms. */
  constructor(spec: RuleSpec, seed: number, origin: number) {
    this.spec = spec;
    this.ops = expandOps(spec.ops);
    const glob = { dot: true };
    const strip = (p: string): string => (p.length > 1 ? p.slice(1) : '');
    const inc = spec.paths?.length ? picomatch(spec.paths.map(strip2), glob) : null;
    const exc = spec.exclude?.length ? picomatch(spec.exclude.map(strip2), glob) : null;
    this.include = inc ? (p) => inc(strip(p)) : null;
    this.exclude = exc ? (p) => exc(strip(p)) : null;
    this.rng = new Rng(deriveSeed(seed, spec.name));
    this.seed = seed;
    this.origin = origin;
    const w = spec.window;
    if (w?.from !== undefined) {
      this.windowStart = Date.parse(w.from);
      this.windowEnd = w.to !== undefined ? Date.parse(w.to) : Infinity;
    } else {
      this.windowStart = origin + (w?.start ?? 0);
      this.windowEnd = w?.duration !== undefined ? this.windowStart + w.duration : Infinity;
    }
  }

  /** Whether the op is one this rule is about (counts it as matched). */
  matches(op: Op): boolean {
    if (this.disabled) return false;
    if (this.ops && !this.ops.has(op.name)) return false;
    if (this.include && !this.include(op.path) && !(op.path2 !== undefined && this.include(op.path2))) return false;
    if (this.exclude && (this.exclude(op.path) || (op.path2 !== undefined && this.exclude(op.path2)))) return false;
    const pr = this.spec.process;
    if (pr) {
      if (pr.pid && !pr.pid.includes(op.ctx.pid)) return false;
      if (pr.uid && !pr.uid.includes(op.ctx.uid)) return false;
      if (pr.comm && !pr.comm.includes(op.command())) return false;
    }
    const sz = this.spec.size;
    if (sz && !within(sz, op.size)) return false;
    // Last: the only check that costs a syscall, paid only by ops that pass all the others.
    const fsz = this.spec.fileSize;
    if (fsz) {
      const n = op.fileSize();
      if (n === undefined || !within(fsz, n)) return false;
    }
    this.counters.matched++;
    return true;
  }

  /** Could this rule act on ops of `path` that `shortcut` would hide from it? */
  mightSee(shortcut: KernelShortcut, path: string): boolean {
    const names = HIDDEN_OPS[shortcut];
    if (this.disabled) return false;
    if (this.ops && !names.some((n) => this.ops!.has(n))) return false;
    if (this.include && !this.include(path)) return false;
    return !(this.exclude && this.exclude(path));
  }

  /** When the window opens and closes (ms since the epoch; `to` is Infinity when it never does), for rules with a window or ramp. */
  activeWindow(): { from: number; to: number } | undefined {
    if (!this.spec.window && !this.spec.ramp) return undefined;
    return { from: this.windowStart, to: this.windowEnd };
  }

  /** The ramp scale at `now` (1 without a ramp). */
  scale(now: number): number {
    const r = this.spec.ramp;
    if (!r) return 1;
    const t = Math.min(1, Math.max(0, (now - this.windowStart) / r.over));
    const from = r.from ?? 0;
    return from + (1 - from) * t;
  }

  /**
   * Whether to act on a matched op now; counts the firing. Consumes randomness only at the probability step.
   * The ramp scales the probability unless `rampProbability` is false (latency ramps the delay instead).
   */
  fires(op: Op, now: number, rampProbability = true): boolean {
    const s = this.spec;
    if (now < this.windowStart || now >= this.windowEnd) return false;
    this.bytes += op.size;
    const n = ++this.eligible;
    if (s.after !== undefined && n <= s.after) return false;
    if (s.every !== undefined && (n - (s.after ?? 0)) % s.every !== 0) return false;
    if (s.afterBytes !== undefined && this.bytes <= s.afterBytes) return false;
    if (s.times !== undefined && this.counters.fired >= s.times) return false;
    const p = (s.probability ?? 1) * (rampProbability ? this.scale(now) : 1);
    if (p < 1 && this.rng.next() >= p) return false;
    this.counters.fired++;
    (op.fired ??= []).push(s.name);
    return true;
  }

  /**
   * Carries on from the rule this one replaces (same name, in a rebuilt stack): its counters, and, when
   * spec and seed are unchanged, its trigger state (after/every counts, bytes, random stream).
   */
  continueFrom(prev: Rule): void {
    Object.assign(this.counters, prev.counters);
    if (prev.seed !== this.seed || prev.origin !== this.origin || !isDeepStrictEqual(prev.spec, this.spec)) return;
    this.eligible = prev.eligible;
    this.bytes = prev.bytes;
    this.rng = prev.rng;
  }

  /** A uniform draw from this rule's own stream (for weighted errnos, corruption offsets, delays). */
  random(): Rng {
    return this.rng;
  }
}

function within(r: Range, n: number): boolean {
  return (r.min === undefined || n >= r.min) && (r.max === undefined || n <= r.max);
}

// Globs are relative to the mount root ("**/*.log", "db/*"); a leading "/" is allowed.
function strip2(glob: string): string {
  return glob.startsWith('/') ? glob.slice(1) : glob;
}
