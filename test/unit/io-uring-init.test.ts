// INIT asks for FUSE over io_uring only when configured and offered, and sizes
// the ring's payload buffers as the kernel checks them; the queue count comes
// from the kernel's list of possible CPUs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InitFlag } from '../../src/fuse/abi.ts';
import { possibleCpus } from '../../src/sys/uring.ts';
import { negotiateInit, type InitSettings } from '../../src/vfs/init.ts';

const bit = (n: number): bigint => 1n << BigInt(n);
const SETTINGS: InitSettings = {
  maxWrite: 1024 * 1024,
  kernelPassthrough: false,
  writebackCache: false,
  maxBackground: 64,
  ioUring: true,
};
const OFFERED = bit(InitFlag.INIT_EXT) | bit(InitFlag.OVER_IO_URING) | bit(InitFlag.MAX_PAGES);

function flagsOf(reply: unknown): bigint {
  const buf = reply as Buffer;
  return BigInt(buf.readUInt32LE(16 + 12)) | (BigInt(buf.readUInt32LE(16 + 32)) << 32n);
}

test('INIT asks for io_uring when configured and offered, with payload buffers of max(8 KiB, max_write, max_pages pages)', () => {
  const out = negotiateInit({ major: 7, minor: 45, maxReadahead: 131072, flags: OFFERED }, SETTINGS);
  assert.ok(flagsOf(out.reply) & bit(InitFlag.OVER_IO_URING));
  assert.equal(out.ringPayload, Math.max(8192, out.maxWrite));
  const small = negotiateInit({ major: 7, minor: 45, maxReadahead: 131072, flags: OFFERED }, { ...SETTINGS, maxWrite: 4096 });
  assert.equal(small.ringPayload, 8192, 'never below FUSE_MIN_READ_BUFFER');
});

test('INIT leaves io_uring off when not configured, not offered, or the protocol is older than 7.42', () => {
  const cases: Array<[string, bigint, number, boolean]> = [
    ['not configured', OFFERED, 45, false],
    ['not offered', OFFERED & ~bit(InitFlag.OVER_IO_URING), 45, true],
    ['minor 41', OFFERED, 41, true],
  ];
  for (const [why, flags, minor, ioUring] of cases) {
    const out = negotiateInit({ major: 7, minor, maxReadahead: 131072, flags }, { ...SETTINGS, ioUring });
    assert.equal(flagsOf(out.reply) & bit(InitFlag.OVER_IO_URING), 0n, why);
    assert.equal(out.ringPayload, 0, why);
  }
});

test('queues: one per possible CPU, from the kernel CPU list format', () => {
  assert.equal(possibleCpus('0-1\n'), 2);
  assert.equal(possibleCpus('0'), 1);
  assert.equal(possibleCpus('0-3,8-11'), 8, 'num_possible_cpus() counts the CPUs named');
});
