// Summarises V8 .cpuprofile files (from `node --cpu-prof`, e.g. `npm run bench
// -- --cpu-prof DIR`): the functions with the most self time, the most
// inclusive time, and self time by file.
//
//   node bench/cpuprofile.ts FILE.cpuprofile [--top N] [--exclude-idle]
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from './exec.ts';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface Row {
  name: string;
  ms: number;
  share: number;
}

export interface Summary {
  totalMs: number;
  /** Samples outside JavaScript: idle (waiting in poll/epoll), program (native), GC. */
  idleMs: number;
  self: Row[];
  inclusive: Row[];
  byFile: Row[];
}

function where(f: CallFrame): string {
  if (!f.url) return '';
  const u = f.url.replace(/^file:\/\//, '');
  const short = u.startsWith('/') ? relative(ROOT, u) : u;
  return `${short}:${f.lineNumber + 1}`;
}

function label(f: CallFrame): string {
  const w = where(f);
  return `${f.functionName || '(anonymous)'}${w ? ` ${w}` : ''}`;
}

function fileOf(f: CallFrame): string {
  if (!f.url) return f.functionName.startsWith('(') ? f.functionName : '(native)';
  const u = f.url.replace(/^file:\/\//, '');
  const nm = u.indexOf('/node_modules/');
  if (nm >= 0)
    return `node_modules/${u
      .slice(nm + 14)
      .split('/')
      .slice(0, u.slice(nm + 14).startsWith('@') ? 2 : 1)
      .join('/')}`;
  return u.startsWith('/') ? relative(ROOT, u) : u;
}

export function summarise(p: Profile, top = 25, excludeIdle = false): Summary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  // timeDeltas[i] is the time before sample i; attribute it to sample i.
  for (let i = 0; i < p.samples.length; i++) selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));

  const idleNames = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);
  let totalUs = 0;
  let idleUs = 0;
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  const files = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const isIdle = n.callFrame.functionName === '(idle)';
    if (isIdle) idleUs += us;
    if (isIdle && excludeIdle) continue;
    totalUs += us;
    const key = label(n.callFrame);
    self.set(key, (self.get(key) ?? 0) + us);
    const file = idleNames.has(n.callFrame.functionName) ? n.callFrame.functionName : fileOf(n.callFrame);
    files.set(file, (files.get(file) ?? 0) + us);
    // Inclusive: every distinct function on the stack once.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = label(byId.get(cur)!.callFrame);
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + us);
    }
  }
  const rows = (m: Map<string, number>, filter: (k: string) => boolean = () => true): Row[] =>
    [...m]
      .filter(([k]) => filter(k))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000, share: us / totalUs }));
  return {
    totalMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    self: rows(self),
    inclusive: rows(incl, (k) => !k.startsWith('(root)') && !k.startsWith('(program)') && !k.startsWith('(idle)')),
    byFile: rows(files),
  };
}

function print(title: string, rows: Row[]): void {
  process.stdout.write(`\n${title}\n`);
  for (const r of rows) process.stdout.write(`${r.ms.toFixed(0).padStart(8)} ms ${(r.share * 100).toFixed(1).padStart(5)}%  ${r.name}\n`);
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' }, 'exclude-idle': { type: 'boolean', default: false } },
  });
  for (const file of positionals) {
    const s = summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile, Number(values.top), values['exclude-idle']);
    process.stdout.write(
      `# ${file}: ${s.totalMs.toFixed(0)} ms sampled${values['exclude-idle'] ? ' (idle excluded)' : ''}, of which idle ${s.idleMs.toFixed(0)} ms\n`,
    );
    print('self time by function', s.self);
    print('inclusive time by function', s.inclusive);
    print('self time by file', s.byFile);
  }
}
