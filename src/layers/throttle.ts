// Throttling: token buckets for read, write and total bandwidth and for IOPS,
// for the whole volume and per rule. A waiting op waits asynchronously, so
// ops that are not throttled pass meanwhile; onLimit: fail answers EAGAIN.
import type { ThrottleRuleConfig } from '../config/layers.ts';
import { Rule } from '../rules/rule.ts';
import { EAGAIN, FsError } from '../vfs/errors.ts';
import type { Op } from './op.ts';
import { ruleSpec } from './rule-spec.ts';
import { sleep } from './sleep.ts';
import type { Layer } from './stack.ts';

/** A bucket that may go into debt: each taker waits for the debt it leaves, so waiters queue in arrival order. */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();
  readonly rate: number;
  readonly capacity: number;

  constructor(ratePerSecond: number, capacity: number) {
    this.rate = ratePerSecond;
    this.capacity = capacity;
    this.tokens = capacity;
  }

  /** Takes `n` tokens; returns how many ms the taker must wait (0 if none). */
  take(n: number, onlyIfAvailable: boolean): number | null {
    const now = performance.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
    if (onlyIfAvailable && this.tokens < n) return null;
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.rate) * 1000;
  }
}

interface Limits {
  read?: number;
  write?: number;
  total?: number;
  iops?: number;
  burst?: number;
  onLimit: 'wait' | 'fail';
}

const READS = new Set(['read', 'readdir']);
const WRITES = new Set(['write', 'fallocate', 'copyFileRange']);

class Buckets {
  private readonly read?: TokenBucket;
  private readonly write?: TokenBucket;
  private readonly total?: TokenBucket;
  private readonly iops?: TokenBucket;
  readonly fail: boolean;

  constructor(l: Limits) {
    // The default burst lets one large request through at full speed: 1/10 s of the rate, at least 1 MiB.
    const burst = (rate: number): number => l.burst ?? Math.max(rate / 10, 1 << 20);
    if (l.read) this.read = new TokenBucket(l.read, burst(l.read));
    if (l.write) this.write = new TokenBucket(l.write, burst(l.write));
    if (l.total) this.total = new TokenBucket(l.total, burst(l.total));
    if (l.iops) this.iops = new TokenBucket(l.iops, Math.max(1, l.iops / 10));
    this.fail = l.onLimit === 'fail';
  }

  get empty(): boolean {
    return !this.read && !this.write && !this.total && !this.iops;
  }

  /** The wait in ms this op owes, or null when it must fail instead. */
  charge(op: Op): number | null {
    let wait = 0;
    const bytes = op.size;
    const isRead = READS.has(op.name);
    const isWrite = WRITES.has(op.name);
    const buckets: Array<[TokenBucket | undefined, number]> = [
      [isRead ? this.read : undefined, bytes],
      [isWrite ? this.write : undefined, bytes],
      [isRead || isWrite ? this.total : undefined, bytes],
      [isRead || isWrite ? this.iops : undefined, 1],
    ];
    for (const [b, n] of buckets) {
      if (!b || n === 0) continue;
      const w = b.take(n, this.fail);
      if (w === null) return null;
      wait = Math.max(wait, w);
    }
    return wait;
  }
}

export function createThrottleLayer(config: Limits & { rules: ThrottleRuleConfig[] }, origin: number, prefix: string): Layer {
  const volume = new Buckets(config);
  const rules = config.rules.map((r, i) => ({ rule: new Rule(ruleSpec(r, `${prefix}.rules[${i}]`), 0, origin), buckets: new Buckets(r) }));
  let waited = 0;
  return {
    kind: 'throttle',
    disturbs: true,
    idle: volume.empty && rules.length === 0,
    waitedSeconds: () => waited,
    around(op, next) {
      if (op.size === 0 && op.name !== 'read' && op.name !== 'write') return next();
      const now = Date.now();
      let wait = volume.empty ? 0 : volume.charge(op);
      if (wait === null) throw new FsError(EAGAIN, 'volume throttle limit reached');
      for (const { rule, buckets } of rules) {
        if (!rule.matches(op, now) || !rule.fires(op, now)) continue;
        const w = buckets.charge(op);
        if (w === null) throw new FsError(EAGAIN, `throttle limit of ${rule.spec.name} reached`);
        wait = Math.max(wait, w);
      }
      if (wait <= 0) return next();
      waited += wait / 1000;
      return sleep(wait, op.ctx.signal).then(next);
    },
    // Volume-wide limits need every file's data; rule limits only their paths'.
    needsData: (path) => !volume.empty || rules.some((r) => r.rule.mightSeeData(path)),
    rules: () => rules.map((r) => r.rule),
  };
}
