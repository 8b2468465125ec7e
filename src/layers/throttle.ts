// Throttling: token buckets for read, write and total bandwidth and for IOPS,
// for the whole volume and per rule. A waiting op waits asynchronously, so
// ops that are not throttled pass meanwhile; onLimit: fail answers EAGAIN.
import type { ThrottleRuleConfig } from '../config/layers.ts';
import { Rule } from '../rules/rule.ts';
import { EAGAIN, FsError } from '../vfs/errors.ts';
import type { Op } from './op.ts';
import { originOf, ruleSpec, type RuleOrigin } from './rule-spec.ts';
import { sleep } from './sleep.ts';
import type { Layer } from './stack.ts';
import { performance } from '../util/clock.ts';

/** Milliseconds on a monotonic clock; tests pass their own to refill buckets without waiting. */
export type Clock = () => number;
const monotonic: Clock = () => performance.now();

/**
 * A bucket that may go into debt: each taker waits for the debt it leaves, so waiters queue in arrival order.
 * Where ops fail instead of waiting, a request is admitted when its tokens are there or the bucket is full:
 * a request larger than the burst would otherwise never pass. From a full bucket it leaves a debt, which
 * refuses the requests after it until the refill has paid it back, so the rate holds on average.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  readonly rate: number;
  readonly capacity: number;
  private readonly clock: Clock;

  constructor(ratePerSecond: number, capacity: number, clock: Clock = monotonic) {
    this.rate = ratePerSecond;
    this.capacity = capacity;
    this.tokens = capacity;
    this.clock = clock;
    this.last = clock();
  }

  private refill(): void {
    const now = this.clock();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }

  /** Would `n` tokens be given now without waiting: they are there, or the bucket is full. Takes nothing. */
  admits(n: number): boolean {
    this.refill();
    return this.tokens >= Math.min(n, this.capacity);
  }

  /** Takes `n` tokens, into debt if need be; returns how many ms the taker must wait for its debt (0 if none). */
  take(n: number): number {
    this.refill();
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.rate) * 1000;
  }
}

export interface Limits {
  read?: number;
  write?: number;
  total?: number;
  iops?: number;
  burst?: number;
  onLimit: 'wait' | 'fail';
}

const READS = new Set(['read', 'readdir']);
const WRITES = new Set(['write', 'fallocate', 'copyFileRange']);

/** The buckets of one set of limits (the volume's, or one rule's). */
export class Buckets {
  private readonly read?: TokenBucket;
  private readonly write?: TokenBucket;
  private readonly total?: TokenBucket;
  private readonly iops?: TokenBucket;
  readonly fail: boolean;

  constructor(l: Limits, clock: Clock = monotonic) {
    // The default burst lets one large request through at full speed: 1/10 s of the rate, at least 1 MiB.
    const burst = (rate: number): number => l.burst ?? Math.max(rate / 10, 1 << 20);
    if (l.read) this.read = new TokenBucket(l.read, burst(l.read), clock);
    if (l.write) this.write = new TokenBucket(l.write, burst(l.write), clock);
    if (l.total) this.total = new TokenBucket(l.total, burst(l.total), clock);
    if (l.iops) this.iops = new TokenBucket(l.iops, Math.max(1, l.iops / 10), clock);
    this.fail = l.onLimit === 'fail';
  }

  get empty(): boolean {
    return !this.read && !this.write && !this.total && !this.iops;
  }

  /** The buckets `op` draws from, each with the tokens it needs there. */
  private demands(op: Op): Array<[TokenBucket, number]> {
    const out: Array<[TokenBucket, number]> = [];
    const isRead = READS.has(op.name);
    const isWrite = WRITES.has(op.name);
    if (!isRead && !isWrite) return out;
    const bytes = op.size;
    if (bytes > 0) {
      if (isRead && this.read) out.push([this.read, bytes]);
      if (isWrite && this.write) out.push([this.write, bytes]);
      if (this.total) out.push([this.total, bytes]);
    }
    if (this.iops) out.push([this.iops, 1]);
    return out;
  }

  /** Whether `op` may pass now: always when ops wait; in fail mode, only if every bucket it draws from admits it. */
  admits(op: Op): boolean {
    return !this.fail || this.demands(op).every(([b, n]) => b.admits(n));
  }

  /** Takes the op's tokens from every bucket; returns the ms it must wait (never any in fail mode, which refuses instead). */
  take(op: Op): number {
    let wait = 0;
    for (const [b, n] of this.demands(op)) wait = Math.max(wait, b.take(n));
    return this.fail ? 0 : wait;
  }

  /**
   * The wait in ms this op owes, or null when it must fail instead. Every bucket is asked before any is
   * taken from: tokens taken by the read bucket and then refused by the IOPS bucket would be lost.
   */
  charge(op: Op): number | null {
    return this.admits(op) ? this.take(op) : null;
  }
}

export function createThrottleLayer(config: Limits & { rules: ThrottleRuleConfig[] }, origin: RuleOrigin, prefix: string): Layer {
  const volume = new Buckets(config);
  const rules = config.rules.map((r, i) => {
    const spec = ruleSpec(r, `${prefix}.rules[${i}]`);
    return { rule: new Rule(spec, 0, originOf(origin, spec.name)), buckets: new Buckets(r) };
  });
  let waited = 0;
  return {
    kind: 'throttle',
    disturbs: true,
    idle: volume.empty && rules.length === 0,
    waitedSeconds: () => waited,
    around(op, next) {
      if (op.size === 0 && op.name !== 'read' && op.name !== 'write') return next();
      if (!volume.empty && !volume.admits(op)) throw new FsError(EAGAIN, 'volume throttle limit reached');
      const now = Date.now();
      let limited: Array<{ rule: Rule; buckets: Buckets }> | undefined;
      for (const r of rules) {
        if (!r.rule.matches(op) || !r.rule.fires(op, now)) continue;
        if (!r.buckets.admits(op)) throw new FsError(EAGAIN, `throttle limit of ${r.rule.spec.name} reached`);
        (limited ??= []).push(r);
      }
      // Tokens are taken only once every limit has admitted the op: a refusal must not cost the others theirs.
      let wait = volume.empty ? 0 : volume.take(op);
      if (limited) for (const { buckets } of limited) wait = Math.max(wait, buckets.take(op));
      if (wait <= 0) return next();
      waited += wait / 1000;
      return sleep(wait, op.ctx.signal).then(next);
    },
    // Volume-wide limits need every file's data; rule limits only their paths'. Nothing here acts on flush.
    needs: (shortcut, path) => shortcut === 'data' && (!volume.empty || rules.some((r) => r.rule.mightSee('data', path))),
    rules: () => rules.map((r) => r.rule),
  };
}
