// `mount -o`: mount options as /etc/fstab and mount(8) spell them (bin/mount.fuse.interposer hands
// them over), turned into the same flags the command line takes.
import { ConfigError } from '../config/load.ts';
import { isKernelMountFlag, KERNEL_MOUNT_FLAGS, type KernelMountFlag } from '../fuse/mount.ts';
import type { MountFlags } from './options.ts';

export interface CommandFlags extends MountFlags {
  log?: string;
}

export interface MountOptionsRead {
  /** The command's flags with the options' values laid in. */
  flags: CommandFlags;
  /** The source /proc/mounts and df show, when `fsname=` was given. */
  fsname?: string;
  kernelFlags: KernelMountFlag[];
}

/** Options that name a flag taking a value; fstab's underscores and the command line's dashes both work. */
const VALUE_OPTIONS = {
  config: 'config',
  backend: 'backend',
  cache: 'cache',
  attr_timeout: 'attrTimeout',
  entry_timeout: 'entryTimeout',
  kernel_passthrough: 'kernelPassthrough',
  max_write: 'maxWrite',
  busy_poll: 'busyPoll',
  io_uring: 'ioUring',
  prefetch: 'prefetch',
  metrics: 'metrics',
  metrics_data: 'metricsData',
  trace_file: 'traceFile',
  otlp: 'otlp',
  volume: 'volume',
  log: 'log',
} as const satisfies Record<string, keyof CommandFlags>;

/** Words only mount(8) and fstab read (when to mount, who may): taken and left alone, as x-* and comment= are. */
const FSTAB_WORDS = new Set(['defaults', 'auto', 'noauto', 'nofail', '_netdev', 'user', 'users', 'nouser', 'owner', 'group']);
/** Words that say what every interposer mount already is: taken, changing nothing. */
const ALREADY_SO = new Set(['nosuid', 'nodev', 'default_permissions']);

/** What a flag word turns off again. */
const UNDOES: Partial<Record<string, KernelMountFlag>> = {
  exec: 'noexec',
  async: 'sync',
  atime: 'noatime',
  diratime: 'nodiratime',
  norelatime: 'relatime',
  nostrictatime: 'strictatime',
  nolazytime: 'lazytime',
};

/** The mount flags among a list of options: ro or rw, and the kernel's. */
export interface MountFlagWords {
  /** Undefined when neither ro nor rw was given. */
  readOnly?: boolean;
  kernelFlags: KernelMountFlag[];
}

/**
 * Reads ro/rw and the kernel's mount flags out of `words` into `into`, the later of two contrary
 * words winning (noexec,exec is exec), as mount(8) reads them. Returns the other words.
 */
function takeMountFlags(words: readonly string[], into: MountFlagWords): string[] {
  const rest: string[] = [];
  for (const word of words) {
    const undone = UNDOES[word];
    if (word === 'ro' || word === 'rw') into.readOnly = word === 'ro';
    else if (isKernelMountFlag(word)) {
      if (!into.kernelFlags.includes(word)) into.kernelFlags.push(word);
    } else if (undone !== undefined) into.kernelFlags = into.kernelFlags.filter((f) => f !== undone);
    else rest.push(word);
  }
  return rest;
}

/**
 * Reads `-o` lists (each comma-separated) into `flags`. An option also given as a flag, or twice, is an
 * error: which one was meant cannot be told.
 */
export function readMountOptions(lists: readonly string[], flags: CommandFlags): MountOptionsRead {
  const out: MountOptionsRead = { flags: { ...flags }, kernelFlags: [] };
  const given = new Set<string>();
  const set = (option: string, key: keyof CommandFlags, value: string | boolean): void => {
    if (given.has(key) || flags[key] !== undefined) {
      throw new ConfigError(`mount option ${option}: ${describe(key)} is given twice; give it once`);
    }
    given.add(key);
    (out.flags as Record<string, string | boolean>)[key] = value;
  };
  const mountFlags: MountFlagWords = { kernelFlags: [] };
  const rest = takeMountFlags(
    lists.flatMap((list) => list.split(',')),
    mountFlags,
  );
  out.kernelFlags = mountFlags.kernelFlags;
  if (mountFlags.readOnly) set('ro', 'readOnly', true);
  for (const option of rest) {
    if (option === '' || ALREADY_SO.has(option) || FSTAB_WORDS.has(option) || option.startsWith('x-') || option.startsWith('comment=')) {
      continue;
    }
    const eq = option.indexOf('=');
    const name = (eq < 0 ? option : option.slice(0, eq)).replaceAll('-', '_');
    const value = eq < 0 ? undefined : option.slice(eq + 1);
    if (value === undefined && name === 'read_only') {
      set(option, 'readOnly', true);
    } else if (value === undefined && name === 'allow_other') {
      set(option, 'allowOther', true);
    } else if (name === 'suid' || name === 'dev') {
      throw new ConfigError(`mount option ${option}: interposer mounts are always nosuid and nodev; drop it`);
    } else if (value === undefined) {
      throw new ConfigError(`mount option ${option} is not known; ${EXPECTED}`);
    } else if (value === '') {
      throw new ConfigError(`mount option ${option} has no value; write ${name}=VALUE`);
    } else if (name === 'fsname') {
      if (out.fsname !== undefined) throw new ConfigError(`mount option ${option}: fsname is given twice; give it once`);
      out.fsname = value;
    } else if (name === 'source') {
      set(option, 'backend', backendOfSource(value) ?? value);
    } else if (Object.hasOwn(VALUE_OPTIONS, name)) {
      set(option, VALUE_OPTIONS[name as keyof typeof VALUE_OPTIONS], value);
    } else {
      throw new ConfigError(`mount option ${option} is not known; ${EXPECTED}`);
    }
  }
  return out;
}

/**
 * `-o remount,...`: the mount flags a remount sets, or undefined without `remount`. Other options
 * are left alone: mount(8) repeats the mount's own (from fstab, or /proc/mounts), and only the
 * mount flags of a running mount change.
 */
export function readRemount(lists: readonly string[]): Required<MountFlagWords> | undefined {
  const words = lists.flatMap((list) => list.split(','));
  if (!words.includes('remount')) return undefined;
  const read: MountFlagWords = { kernelFlags: [] };
  takeMountFlags(words, read);
  return { readOnly: read.readOnly ?? false, kernelFlags: read.kernelFlags };
}

/**
 * The backend spec a mount source names: a directory by its absolute path, or a spec as --backend takes
 * it. Undefined for anything else (a label such as `interposer`, with the backend in the config file).
 */
export function backendOfSource(source: string): string | undefined {
  if (source.startsWith('/')) return `passthrough:${source}`;
  return /^(passthrough:|memory(:|$)|null(:|$))/.test(source) ? source : undefined;
}

function describe(key: keyof CommandFlags): string {
  if (key === 'backend') return 'the backend (source=, backend= or the mount source)';
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

const EXPECTED =
  `expected ${Object.keys(VALUE_OPTIONS).join('=, ')}=, source=, fsname=, ro, allow_other, ` +
  `${Object.keys(KERNEL_MOUNT_FLAGS).join(', ')}, or a word fstab itself reads (defaults, noauto, nofail, x-...)`;
