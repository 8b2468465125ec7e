// Merges several Prometheus text expositions (one per volume daemon) into one:
// each metric family appears once, with the samples of every source, and
// identical lines (target_info) once.

interface Family {
  help?: string;
  type?: string;
  samples: Set<string>;
}

export function mergeExpositions(texts: string[]): string {
  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { samples: new Set() }));
    return f;
  };
  for (const text of texts) {
    let current: Family | undefined;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (meta) {
        current = family(meta[2]);
        if (meta[1] === 'HELP') current.help ??= line;
        else current.type ??= line;
        continue;
      }
      if (line.startsWith('#')) continue;
      (current ?? family(line.split(/[{ ]/, 1)[0])).samples.add(line);
    }
  }
  const out: string[] = [];
  for (const f of families.values()) {
    if (f.help) out.push(f.help);
    if (f.type) out.push(f.type);
    out.push(...f.samples);
  }
  return `${out.join('\n')}\n`;
}
