// Configurations that are valid but will not do what they seem to: a rule on
// reads under the page cache sees only the reads the cache misses, and a short
// read there looks to the kernel like the end of the file.
import type { Config } from './schema.ts';
import { expandOps } from '../rules/rule.ts';

export function cacheWarnings(config: Config): string[] {
  if (config.mount.cache === 'direct') return [];
  const out: string[] = [];
  config.layers.forEach((layer, i) => {
    const body = layer.fault ?? layer.latency ?? layer.throttle;
    if (!body) return;
    const kind = Object.keys(layer)[0];
    body.rules.forEach((rule, j) => {
      const ops = expandOps(rule.ops);
      const reads = !ops || ops.has('read');
      const writes = !ops || ops.has('write');
      const name = rule.name ?? `layers[${i}].rules[${j}]`;
      if (reads && kind === 'fault' && 'action' in rule && rule.action?.shortRead !== undefined) {
        out.push(
          `fault rule ${name} makes reads short, but with mount.cache: ${config.mount.cache} the kernel reads through its page cache and takes a short READ for the end of the file: a reader sees the file end early (read(2) returns 0 after the short part) instead of a short read(2); set mount.cache: direct (or --cache direct) for read(2) itself to come back short`,
        );
      } else if (reads) {
        out.push(
          `${kind} rule ${name} acts on reads, but with mount.cache: ${config.mount.cache} the kernel page cache answers reads of cached data without asking interposer; set mount.cache: direct (or --cache direct) for the rule to see every read`,
        );
      } else if (writes && kind === 'fault') {
        out.push(
          `fault rule ${name} acts on writes, which the page cache may merge or split before they reach interposer; set mount.cache: direct for one WRITE per write(2)`,
        );
      }
    });
  });
  return out;
}
