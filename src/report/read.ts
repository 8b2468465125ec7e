// Reading the JSON-lines trace format written by src/telemetry/traces.ts
// (JsonLinesFile): one span per line. Operation spans carry `fs.op`;
// the per-file parent spans ("file PATH") do not and are skipped.
import { createReadStream } from 'node:fs';

/** One traced operation, as the report needs it. Times in microseconds. */
export interface OpRecord {
  op: string;
  path: string;
  path2?: string;
  pid: number;
  command: string;
  uid?: number;
  offset?: number;
  requested?: number;
  returned?: number;
  /** "ok" or an errno name. */
  result: string;
  /** Names of the rules that acted on the operation (injected faults, delays, throttling). */
  rules?: string[];
  startUs: number;
  durationUs: number;
}

export interface ParseStats {
  lines: number;
  /** Lines that were not JSON spans (a line cut short while the file was being written, say). */
  malformed: number;
  /** Spans that are not operations (the per-file parent spans). */
  other: number;
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Paths repeat on every op of a file: one string per distinct path keeps large traces small. */
const interned = new Map<string, string>();
function intern(s: string): string {
  const hit = interned.get(s);
  if (hit !== undefined) return hit;
  if (interned.size > 1_000_000) interned.clear();
  interned.set(s, s);
  return s;
}

/** The operation in one line of a trace file, or null for other spans; throws on a line that is not a span. */
export function parseSpanLine(line: string): OpRecord | null {
  const span = JSON.parse(line) as { attributes?: Record<string, unknown>; startUs?: unknown; durationUs?: unknown };
  if (typeof span !== 'object' || span === null) throw new Error('not a span');
  const a = span.attributes ?? {};
  const op = str(a['fs.op']);
  const startUs = num(span.startUs);
  if (startUs === undefined) throw new Error('span without startUs');
  if (op === undefined) return null;
  const rec: OpRecord = {
    op: intern(op),
    path: intern(str(a['fs.path']) ?? ''),
    pid: num(a['process.pid']) ?? 0,
    command: intern(str(a['process.command']) ?? ''),
    result: intern(str(a['fs.result']) ?? 'ok'),
    startUs,
    durationUs: num(span.durationUs) ?? 0,
  };
  const path2 = str(a['fs.path2']);
  if (path2 !== undefined) rec.path2 = intern(path2);
  const uid = num(a['user.id']);
  if (uid !== undefined) rec.uid = uid;
  const offset = num(a['fs.offset']);
  if (offset !== undefined) rec.offset = offset;
  const requested = num(a['fs.size.requested']);
  if (requested !== undefined) rec.requested = requested;
  const returned = num(a['fs.size.returned']);
  if (returned !== undefined) rec.returned = returned;
  const rules = a['interposer.rules'];
  if (Array.isArray(rules) && rules.length > 0) rec.rules = rules.map(String);
  return rec;
}

/** Parses trace text (whole lines); a last line without its newline is parsed too. */
export function parseTraceText(text: string, stats: ParseStats = { lines: 0, malformed: 0, other: 0 }): OpRecord[] {
  const out: OpRecord[] = [];
  const add = (r: OpRecord): void => void out.push(r);
  for (const line of text.split('\n')) addLine(line, add, stats);
  return out;
}

function addLine(line: string, each: (op: OpRecord) => void, stats: ParseStats): void {
  if (line.trim() === '') return;
  stats.lines++;
  let rec: OpRecord | null;
  try {
    rec = parseSpanLine(line);
  } catch {
    stats.malformed++;
    return;
  }
  if (rec) each(rec);
  else stats.other++;
}

/** Streams a trace file (which may be large) to `each`, one operation at a time. */
export async function readTraceFile(path: string, each: (op: OpRecord) => void): Promise<ParseStats> {
  const stats: ParseStats = { lines: 0, malformed: 0, other: 0 };
  // node:readline is imported here: the CLI's every command, the mount daemon too, loads this module.
  const { createInterface } = await import('node:readline');
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  for await (const line of lines) addLine(line, each, stats);
  return stats;
}
