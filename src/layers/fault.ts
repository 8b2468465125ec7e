// Fault injection: errors, short and torn I/O, corruption, a lying statfs and
// overridden attributes, each by a rule. Rules are tried in order; the first
// that fires acts.
import type { FaultAction, FaultRuleConfig } from '../config/layers.ts';
import { HIDDEN_OPS, Rule } from '../rules/rule.ts';
import { onSuccess } from '../vfs/answer.ts';
import { E, FsError } from '../vfs/errors.ts';
import type { Answer, Attr, CreateResult, MaybePromise, StatFs } from '../vfs/types.ts';
import type { Op, OpName } from './op.ts';

/** Ops whose answer carries attributes the kernel will cache. */
const ATTR_OPS = new Set<OpName>(['getattr', 'setattr', 'create', 'mknod', 'mkdir', 'symlink', 'link']);
import { originOf, ruleSpec, type RuleOrigin } from './rule-spec.ts';
import type { KernelShortcut, Layer, Next } from './stack.ts';

interface FaultRule {
  rule: Rule;
  action: FaultAction;
}

/** `f` of what the layers below answered, unless that was a failure (which passes on unchanged). */
const after = <T>(v: MaybePromise<unknown>, f: (r: T) => T | FsError): MaybePromise<unknown> => onSuccess(v as Answer<T>, f);

function portion(p: { fraction?: number; bytes?: number }, size: number): number {
  return p.fraction !== undefined ? Math.floor(size * p.fraction) : Math.min(size, p.bytes ?? 0);
}

function pickErrno(rule: Rule, choices: Array<{ errno: string; weight: number }>): number {
  const total = choices.reduce((s, c) => s + c.weight, 0);
  let x = rule.random().next() * total;
  for (const c of choices) if ((x -= c.weight) < 0) return E[c.errno];
  return E[choices[choices.length - 1].errno];
}

/** Corrupts min(bytes, length) distinct bytes: a flip changes one bit of each, random gives each another value. */
function corrupt(rule: Rule, buf: Buffer, length: number, how: { mode: string; bytes: number }): void {
  const rng = rule.random();
  const n = Math.min(how.bytes, length);
  // Floyd's sampling: n distinct offsets from n draws (the same byte hit twice could undo a flip).
  const hit = new Set<number>();
  for (let j = length - n; j < length; j++) {
    const t = rng.below(j + 1);
    const at = hit.has(t) ? j : t;
    hit.add(at);
    if (how.mode === 'zero') buf[at] = 0;
    else if (how.mode === 'random') buf[at] ^= 1 + rng.below(255);
    else buf[at] ^= 1 << rng.below(8);
  }
}

/**
 * A failed, short or torn write of a direct-I/O file's mapped pages, which the kernel writes back
 * (op.ctx.writeback 'direct'): the failure is answered, and the kernel keeps it for the file's next
 * fsync or msync, but the data is written in full. A disk that fails a writeback leaves the pages in
 * memory, data and all, until they are evicted; the kernel drops a direct-I/O file's pages at every
 * mmap (writing dirty ones back first), so a write lost here would at once lose memory that
 * processes share, sqlite's -shm say: a corruption no disk error makes. Pages of cached files stay
 * cached as a local filesystem's would, and a failed writeback of them loses its data, as a disk's.
 */
function failWriteback(answer: number | FsError, next: Next): MaybePromise<unknown> {
  return after<number>(next(), () => answer);
}

function apply(fr: FaultRule, op: Op, next: Next): MaybePromise<unknown> {
  const a = fr.action;
  const rule = fr.rule;
  const writeback = op.name === 'write' && op.ctx.writeback === 'direct';
  if (a.errno) {
    const failure = new FsError(pickErrno(rule, a.errno), `injected by ${rule.spec.name}`);
    return writeback ? failWriteback(failure, next) : failure;
  }
  if (a.shortRead && op.name === 'read') {
    const into = op.args[2] as Buffer;
    op.args[2] = into.subarray(0, portion(a.shortRead, into.length));
    return next();
  }
  if (a.shortWrite && op.name === 'write') {
    const data = op.args[2] as Buffer;
    const kept = portion(a.shortWrite, data.length);
    if (writeback) return failWriteback(kept, next);
    op.args[2] = data.subarray(0, kept);
    return next();
  }
  if (a.tornWrite && op.name === 'write') {
    const data = op.args[2] as Buffer;
    const failure = new FsError(E[a.tornWrite.errno], `torn write injected by ${rule.spec.name}`);
    if (writeback) return failWriteback(failure, next);
    op.args[2] = data.subarray(0, portion(a.tornWrite.keep, data.length));
    return after(next(), () => failure);
  }
  if (a.corrupt) {
    const how = a.corrupt;
    if (op.name === 'write') {
      const copy = Buffer.from(op.args[2] as Buffer);
      corrupt(rule, copy, copy.length, how);
      op.args[2] = copy;
      return next();
    }
    if (op.name === 'read') {
      const into = op.args[2] as Buffer;
      return after<number>(next(), (n) => {
        corrupt(rule, into, n, how);
        return n;
      });
    }
  }
  if (a.statfs && op.name === 'statfs') {
    const lie = a.statfs;
    return after<StatFs>(next(), (st) => {
      const out = { ...st };
      if (lie.size !== undefined) out.blocks = Math.floor(lie.size / st.frsize);
      if (lie.free !== undefined) out.bfree = out.bavail = Math.min(out.blocks, Math.floor(lie.free / st.frsize));
      if (lie.files !== undefined) out.files = lie.files;
      return out;
    });
  }
  if (a.attr && ATTR_OPS.has(op.name)) {
    const o = a.attr;
    const override = (attr: Attr): Attr => {
      const out = { ...attr };
      if (o.mode !== undefined) out.mode = (attr.mode & 0o170000) | (o.mode & 0o7777);
      if (o.size !== undefined) out.size = o.size;
      if (o.uid !== undefined) out.uid = o.uid;
      if (o.gid !== undefined) out.gid = o.gid;
      if (o.mtime !== undefined) out.mtimeMs = Date.parse(o.mtime);
      return out;
    };
    // create answers { attr, fh }; the others answer the Attr itself.
    if (op.name === 'create') return after<CreateResult>(next(), (r) => ({ ...r, attr: override(r.attr) }));
    return after<Attr>(next(), override);
  }
  // The action does not apply to this op (e.g. shortRead on a write): let it through.
  return next();
}

/** Whether the action can act on the op; a rule lets other ops by uncounted, so they use up none of its triggers. */
function applies(a: FaultAction, name: OpName): boolean {
  if (a.errno) return true;
  if (a.shortRead) return name === 'read';
  if (a.shortWrite || a.tornWrite) return name === 'write';
  if (a.corrupt) return name === 'read' || name === 'write';
  if (a.statfs) return name === 'statfs';
  return ATTR_OPS.has(name);
}

export function createFaultLayer(config: { seed: number; rules: FaultRuleConfig[] }, origin: RuleOrigin, prefix: string): Layer {
  const rules: FaultRule[] = config.rules.map((r, i) => {
    const spec = ruleSpec(r, `${prefix}.rules[${i}]`);
    return { rule: new Rule(spec, config.seed, originOf(origin, spec.name)), action: r.errno ? { errno: r.errno } : r.action! };
  });
  // Per shortcut, the rules whose action can act on an op it hides (a short read on reads, errno on any).
  const actingOn = (shortcut: KernelShortcut): FaultRule[] => rules.filter((r) => HIDDEN_OPS[shortcut].some((n) => applies(r.action, n)));
  const hiddenFrom: Record<KernelShortcut, FaultRule[]> = {
    data: actingOn('data'),
    flush: actingOn('flush'),
    listing: actingOn('listing'),
  };
  return {
    kind: 'fault',
    disturbs: true,
    idle: rules.length === 0,
    around(op, next) {
      const now = Date.now();
      for (const fr of rules) if (applies(fr.action, op.name) && fr.rule.matches(op) && fr.rule.fires(op, now)) return apply(fr, op, next);
      return next();
    },
    needs: (shortcut, path) => hiddenFrom[shortcut].some((r) => r.rule.mightSee(shortcut, path)),
    rules: () => rules.map((r) => r.rule),
  };
}
