// Turns the samples of all rounds into Markdown: medians (with their spread),
// ratios against native and bindfs, and what each daemon cost.
import type { Metric } from './workloads.ts';

export interface TargetInfo {
  name: string;
  kind: 'native' | 'tmpfs' | 'bindfs' | 'interposer';
  baseline?: 'native' | 'tmpfs';
  /** The target this one changes one thing of (a layer added, an option set), if that is all it changes. */
  variantOf?: string;
  /** The backend keeps the files' contents in the daemon (memory), so its RSS includes them. */
  holdsData?: boolean;
  describe: string;
  mountOptions?: string;
}

export interface DaemonRound {
  /** VmHWM at the end of the round, bytes. */
  peakRss: number;
  /** RssAnon and RssFile at the end of the round, bytes. */
  rssAnon: number;
  rssFile: number;
  /** utime+stime spent while the workloads ran, seconds. */
  cpu: number;
  /** The same, per workload. */
  workloadCpu: Record<string, number>;
  /** RSS once mounted, before the first workload, bytes. */
  startRss: number;
  /** From starting the daemon to its mount being ready, ms. */
  startMs: number;
  /** VmHWM over each workload alone (reset before it), bytes. */
  workloadPeakRss: Record<string, number>;
}

export interface Results {
  targets: TargetInfo[];
  workloads: Array<{ name: string; metrics: Metric[] }>;
  /** target -> metric key -> one value per round (NaN where a round failed). */
  samples: Record<string, Record<string, number[]>>;
  daemon: Record<string, DaemonRound[]>;
  errors: string[];
}

export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Half the range as a fraction of the median. */
function spread(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length < 2) return NaN;
  return (Math.max(...v) - Math.min(...v)) / 2 / median(v);
}

export function fmt(v: number): string {
  if (!Number.isFinite(v)) return '—';
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** A ratio as the tables show it: 0.95×. */
export function times(x: number): string {
  return `${x.toFixed(2)}×`;
}

function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '—';
  return times(a / b);
}

export function table(head: string[], rows: string[][], align: string[]): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(align), ...rows.map(line)].join('\n');
}

const MiB = 1024 * 1024;

export function renderMarkdown(r: Results): string {
  const out: string[] = [];
  const names = r.targets.map((t) => t.name);
  const metrics = r.workloads.flatMap((w) => w.metrics);
  const med = (t: string, k: string): number => median(r.samples[t]?.[k] ?? []);

  out.push('### Medians (higher is better; ± is half the range over rounds)', '');
  out.push(
    table(
      ['workload', 'unit', ...names],
      metrics.map((m) => [
        m.key,
        m.unit,
        ...names.map((t) => {
          const xs = r.samples[t]?.[m.key] ?? [];
          const s = spread(xs);
          return `${fmt(median(xs))}${Number.isFinite(s) ? ` ±${Math.round(s * 100)}%` : ''}`;
        }),
      ]),
      ['---', '---', ...names.map(() => '---:')],
    ),
  );

  const ours = r.targets.filter((t) => t.kind === 'interposer');
  const hasBindfs = names.includes('bindfs');
  if (ours.some((t) => hasBindfs || names.includes(t.baseline ?? 'native'))) {
    out.push('', '### Ratios of medians: interposer / native (or tmpfs) and interposer / bindfs', '');
    const head: string[] = ['workload'];
    // A baseline that did not run gets no column.
    const hasBase = (t: TargetInfo): boolean => names.includes(t.baseline ?? 'native');
    for (const t of ours) {
      if (hasBase(t)) head.push(`${t.name} / ${t.baseline ?? 'native'}`);
      if (hasBindfs) head.push(`${t.name} / bindfs`);
    }
    const rows = metrics.map((m) => {
      const row = [m.key];
      for (const t of ours) {
        if (hasBase(t)) row.push(ratio(med(t.name, m.key), med(t.baseline ?? 'native', m.key)));
        if (hasBindfs) row.push(ratio(med(t.name, m.key), med('bindfs', m.key)));
      }
      return row;
    });
    out.push(table(head, rows, ['---', ...head.slice(1).map(() => '---:')]));
  }

  // What a layer or an option changes: a configuration against its base, in the same run (both selected).
  const pairs = ours.filter((t) => t.variantOf !== undefined && names.includes(t.variantOf));
  if (pairs.length > 0) {
    out.push('', '### One change (a layer, an option) / the configuration without it (1.00× = no effect; 0.90× = 10% slower)', '');
    out.push(
      table(
        ['workload', ...pairs.map((t) => `${t.name} / ${t.variantOf}`)],
        metrics.map((m) => [m.key, ...pairs.map((t) => ratio(med(t.name, m.key), med(t.variantOf!, m.key)))]),
        ['---', ...pairs.map(() => '---:')],
      ),
    );
  }

  const twins = ours.filter((t) => t.name.endsWith('@B'));
  if (twins.length > 0) {
    out.push('', '### A/B: the --compare-cli checkout (NAME@B) / this one (NAME)', '');
    out.push(
      table(
        ['workload', ...twins.map((t) => `${t.name.slice(0, -2)}: B / A`)],
        metrics.map((m) => [m.key, ...twins.map((t) => ratio(med(t.name, m.key), med(t.name.slice(0, -2), m.key)))]),
        ['---', ...twins.map(() => '---:')],
      ),
    );
  }

  const daemons = r.targets.filter((t) => (r.daemon[t.name] ?? []).length > 0);
  if (daemons.length > 0) {
    out.push(
      '',
      '### The daemon: peak RSS (VmHWM, largest of the rounds; file-backed pages such as the node binary count), RSS at the end of the last round split into anonymous and file-backed, and CPU time (utime+stime while the workloads ran, median of rounds)',
      '',
    );
    const wl = r.workloads.map((w) => w.name);
    out.push(
      table(
        ['daemon', 'peak RSS MiB', 'at end: anon + file MiB', 'CPU s / round', ...wl.map((w) => `CPU s: ${w}`)],
        daemons.map((t) => {
          const rounds = r.daemon[t.name];
          const last = rounds[rounds.length - 1];
          return [
            t.name,
            fmt(Math.max(...rounds.map((d) => d.peakRss)) / MiB),
            `${fmt(last.rssAnon / MiB)} + ${fmt(last.rssFile / MiB)}`,
            fmt(median(rounds.map((d) => d.cpu))),
            ...wl.map((w) => fmt(median(rounds.map((d) => d.workloadCpu[w] ?? NaN)))),
          ];
        }),
        ['---', '---:', '---:', '---:', ...wl.map(() => '---:')],
      ),
    );
    out.push(
      '',
      'Time to mount (from starting the daemon to its mount being ready, median of rounds), RSS once mounted, and peak RSS in MiB by workload (VmHWM reset through `/proc/PID/clear_refs` before each; largest of the rounds):',
      '',
      table(
        ['daemon', 'mount ms', 'mounted', ...wl],
        daemons.map((t) => {
          const rounds = r.daemon[t.name];
          return [
            t.name,
            fmt(median(rounds.map((d) => d.startMs))),
            fmt(Math.max(...rounds.map((d) => d.startRss)) / MiB),
            ...wl.map((w) => fmt(Math.max(...rounds.map((d) => d.workloadPeakRss[w] ?? NaN)) / MiB)),
          ];
        }),
        ['---', '---:', '---:', ...wl.map(() => '---:')],
      ),
    );
  }

  out.push('', '### What each workload times', '');
  for (const w of r.workloads) for (const m of w.metrics) out.push(`- **${m.key}** (${w.name}, ${m.unit}): ${m.how}`);

  out.push('', '### Targets', '');
  for (const t of r.targets) {
    out.push(`- **${t.name}**: ${t.describe}${t.mountOptions ? `; mount options \`${t.mountOptions}\`` : ''}`);
  }

  if (r.errors.length > 0) {
    // The same failure in several rounds is listed once, with its rounds.
    const byText = new Map<string, string[]>();
    for (const e of r.errors) {
      const m = /^round (\d+), (.*)$/s.exec(e);
      const text = (m ? m[2] : e).split('\n').slice(0, 4).join(' / ');
      byText.set(text, [...(byText.get(text) ?? []), m ? m[1] : '?']);
    }
    out.push('', '### Errors', '');
    for (const [text, rounds] of byText) out.push(`- rounds ${rounds.join(', ')}: ${text}`);
  }
  return `${out.join('\n')}\n`;
}
