// Number formatting shared by the text and HTML reports.

export function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[i]}`;
}

/** A duration given in microseconds, in the unit that reads best. */
export function fmtUs(us: number): string {
  if (us < 1000) return `${Math.round(us)}µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(us < 10_000 ? 2 : 1)}ms`;
  return `${(us / 1e6).toFixed(2)}s`;
}

export function fmtPct(share: number | null): string {
  return share === null ? '–' : `${(share * 100).toFixed(1)}%`;
}

export function fmtNum(n: number | null, digits = 2): string {
  if (n === null) return '–';
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}

/** pid 0: the kernel itself (releases after the last close, writeback). */
export function commandName(p: { pid: number; command: string }): string {
  return p.pid === 0 ? '(kernel)' : p.command || '?';
}
