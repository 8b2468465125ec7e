// Human units in configuration: sizes ("4KiB", "1.5GB", 4096) and durations
// ("500us", "5ms", "1s", "2m"). Durations come out in milliseconds.

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

const DURATION_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const NUMBER_UNIT = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Zµ]*)\s*$/;

/** Bytes in a size, or null if `text` is not one. */
export function parseSize(text: string | number): number | null {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? Math.floor(text) : null;
  const m = NUMBER_UNIT.exec(text);
  if (!m) return null;
  const unit = SIZE_UNITS[m[2].toLowerCase()];
  return unit === undefined ? null : Math.floor(Number(m[1]) * unit);
}

/** Milliseconds in a duration, or null if `text` is not one. A bare number is seconds. */
export function parseDuration(text: string | number): number | null {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text * 1000 : null;
  const m = NUMBER_UNIT.exec(text);
  if (!m) return null;
  if (m[2] === '') return Number(m[1]) * 1000;
  const unit = DURATION_MS[m[2]] ?? DURATION_MS[m[2].toLowerCase()];
  return unit === undefined ? null : Number(m[1]) * unit;
}

export const SIZE_HINT = 'a size such as 4096, 64KiB, 10MiB or 1GiB';
export const DURATION_HINT = 'a duration such as 500us, 5ms, 1s or 2m';
