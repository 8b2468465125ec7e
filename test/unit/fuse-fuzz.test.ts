// Thousands of malformed requests against a live session: truncated structs,
// random bytes, names without NUL, lying lengths, huge sizes, unknown node ids
// and handles, over-counted BATCH_FORGETs, stray INTERRUPTs. The kernel trusts
// our replies and we cannot fully trust its requests, so whatever arrives must
// get exactly one well-formed reply (or none, for FORGET, BATCH_FORGET and
// INTERRUPT), and the session must keep serving.
//
// The hostile kernel runs on a worker thread (fixtures/fuzz-kernel.ts) with a
// blocking socket, so it can wait for each window of replies while the session
// runs undisturbed on this thread. The seed makes a failure reproducible:
// FUZZ_SEED=n to replay one, FUZZ_COUNT=n to run longer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { FuseSession } from '../../src/fuse/session.ts';
import { FuseBridge } from '../../src/vfs/bridge.ts';
import * as sys from '../../src/sys/libc.ts';
import { E, errnoName } from '../../src/vfs/errors.ts';
import { log } from '../../src/util/log.ts';
import { BUFFER_SIZE, defaultBridgeOptions, seqpacketPair, setNonBlocking } from '../fixtures/fuse-harness.ts';
import { mulberry32, type FuzzInput, type FuzzSummary } from '../fixtures/fuzz-kernel.ts';
import { ToyVfs } from '../fixtures/toy-vfs.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_f00d);
const COUNT = Number(process.env.FUZZ_COUNT ?? 20_000);

/** Errors a malformed or nonsensical request may plausibly earn. EIO is not here: it means an exception escaped. */
const PLAUSIBLE = new Set(
  [
    'EINVAL',
    'ENOSYS',
    'ENOENT',
    'EBADF',
    'ERANGE',
    'EEXIST',
    'ENOTDIR',
    'EISDIR',
    'ENOTEMPTY',
    'ENOSPC',
    'EFBIG',
    'ENAMETOOLONG',
    'EPROTO',
    'EPERM',
    'EINTR',
    'ENODATA',
    'E2BIG',
    'ENXIO',
    'EBUSY',
    'ESTALE', // an op on a node a fuzzed unlink or rename removed, sent by node id
  ].map((name) => -E[name]),
);

test(`fuzz: ${COUNT} malformed requests (seed ${SEED.toString(16)})`, { timeout: 300_000 }, async () => {
  const [kernel, sessionFd] = seqpacketPair();
  setNonBlocking(sessionFd);
  // Small caps keep every reply well inside the socket's buffer (see toy-vfs.ts).
  const pick = mulberry32(SEED ^ 0xa5a5);
  let seeding = true;
  const vfs = new ToyVfs({ maxFileSize: 4096, maxInodes: 48, async: () => !seeding && pick() < 0.3 });
  // Names the fuzzer picks often exist from the start, so that lookups get somewhere.
  const ctx = { uid: 0, gid: 0, pid: 1, unique: 0 };
  vfs.mkdir(ctx, '/dir', 0o755);
  vfs.symlink(ctx, 'a', '/ln');
  for (const path of ['/a', '/file', '/dir/file', '/dir/x']) {
    const { fh } = vfs.create(ctx, path, 0o1, 0o644) as { fh: number };
    vfs.write(ctx, path, fh, Buffer.from(path.repeat(50)), 0);
    vfs.release(ctx, path, fh);
  }
  seeding = false;
  const bridge = new FuseBridge(vfs, { ...defaultBridgeOptions, negativeTimeoutMs: 500 });
  const session = new FuseSession(sessionFd, bridge.handlers(), { bufferSize: BUFFER_SIZE, background: bridge.background });
  bridge.session = session;
  let endedEarly = false;
  void session.ended.then(() => (endedEarly = true));

  // Every malformed request logs a warning by design; keep only the summary below.
  const level = log.level;
  log.level = 'silent';
  let summary: FuzzSummary;
  const worker = new Worker(new URL('../fixtures/fuzz-kernel.ts', import.meta.url), {
    workerData: { fd: kernel, seed: SEED, count: COUNT } satisfies FuzzInput,
  });
  try {
    session.start();
    summary = await new Promise<FuzzSummary>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`fuzz worker exited (${code}) without a summary`)));
    });
    assert.equal(endedEarly, false, 'the session ended on its own');
  } finally {
    log.level = level;
    await worker.terminate();
    sys.close(kernel);
    await session.ended;
    sys.close(sessionFd);
  }

  const errors = Object.entries(summary.errors)
    .map(([e, n]) => [Number(e), n] as const)
    .sort((a, b) => b[1] - a[1]);
  console.log(
    `fuzz seed ${SEED.toString(16)}: ${summary.sent} requests, ${summary.replies} replies; ` +
      `kinds ${JSON.stringify(summary.kinds)}; ` +
      `results ${errors.map(([e, n]) => `${e === 0 ? 'ok' : errnoName(-e)}=${n}`).join(' ')}; ` +
      `${bridge.nodes.size} nodes, ${vfs.openHandles} handles left`,
  );

  assert.deepEqual(summary.problems, []);
  assert.equal(summary.sent, COUNT);
  const implausible = errors.filter(([e]) => e !== 0 && !PLAUSIBLE.has(e)).map(([e, n]) => `${errnoName(-e)}=${n}`);
  assert.deepEqual(implausible, [], 'errors outside the plausible set (EIO means an exception escaped a handler)');
  assert.ok((summary.errors[0] ?? 0) > COUNT / 20, 'some requests must also succeed, or the fuzz only scratched the surface');
  assert.deepEqual(summary.finalGetattr, { error: 0, payloadLength: 104 });
  assert.equal(session.pending, 0);
});
