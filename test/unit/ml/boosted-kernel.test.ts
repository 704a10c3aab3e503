import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { handOff, HistPool } from '../../../ml/boosted/hist-pool';
import { Arena, arenaLayout, BINS, featureParts, type Hist } from '../../../ml/boosted/kernel';
import { mulberry32 } from '../../../ml/random';

const MISSING = BINS - 1;

/** Row i's code of feature j. */
const codeOf = (a: Arena, i: number, j: number) => a.codes[i * a.layout.stride + j];

/** An arena of n rows × F features: random codes (a tenth missing), gradient pairs from `value`, every row. */
function filledArena(n: number, F: number, parts: number, value: (rng: () => number) => number): Arena {
  const a = new Arena(arenaLayout(n, F, 8), featureParts(F, parts));
  const rng = mulberry32(17);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < F; j++)
      a.codes[i * a.layout.stride + j] = rng() < 0.1 ? MISSING : Math.floor(rng() * 40 * (j + 1)) % MISSING;
  for (let k = 0; k < 2 * n; k++) a.gh[k] = value(rng);
  for (let i = 0; i < n; i++) a.rows[i] = i;
  a.kernel.gather(0, n);
  return a;
}

/** A sorted draw of about `share` of the rows into rows[0, m), their codes gathered in that order; returns m. */
function drawRows(a: Arena, share: number, seed: number): number {
  const rng = mulberry32(seed);
  let m = 0;
  for (let i = 0; i < a.layout.nRows; i++) if (rng() < share) a.rows[m++] = i;
  a.kernel.gather(0, m);
  return m;
}

/**
 * The histogram as plain JavaScript adds it up: row by row in the given order, feature by feature; rows[k]'s gradient
 * pair is the pair k (gh is in the order of rows).
 */
function reference(a: Arena, start: number, end: number, feats: number[]) {
  const F = a.layout.nFeatures;
  const gh = new Float64Array(F * BINS * 2);
  const count = new Int32Array(F * BINS);
  for (let k = start; k < end; k++) {
    const i = a.rows[k];
    for (const j of feats) {
      const b = j * BINS + codeOf(a, i, j);
      gh[2 * b] += a.gh[2 * k];
      gh[2 * b + 1] += a.gh[2 * k + 1];
      count[b]++;
    }
  }
  return { gh, count };
}

function assertSameBins(h: Hist, want: { gh: Float64Array; count: Int32Array }, feats: number[], what: string) {
  for (const j of feats)
    for (let b = 0; b < BINS; b++) {
      const o = j * BINS + b;
      assert.equal(h.count[o], want.count[o], `${what}: count of feature ${j}, bin ${b}`);
      // Bit for bit: the same additions in the same order.
      assert.ok(Object.is(h.gh[2 * o], want.gh[2 * o]), `${what}: gradient of feature ${j}, bin ${b}`);
      assert.ok(Object.is(h.gh[2 * o + 1], want.gh[2 * o + 1]), `${what}: hessian of feature ${j}, bin ${b}`);
    }
}

describe('boosted trees: the WebAssembly kernel', () => {
  // Share out every histogram and partition of these test sizes (the defaults share only the largest).
  const defaults = { ...handOff };
  before(() => Object.assign(handOff, { histWork: 1000, partitionRows: 1000 }));
  after(() => Object.assign(handOff, defaults));

  it('builds a histogram bit for bit as a row-by-row sum, however the features are shared out between threads', async () => {
    const F = 7;
    const a = filledArena(30_000, F, 3, (rng) => Math.fround(rng() - 0.4));
    const m = drawRows(a, 0.6, 5);
    const all = Array.from({ length: F }, (_, j) => j);
    const want = reference(a, 100, m, all);
    // Stale sums in the buffer must not survive: the kernel zeroes the features it builds.
    const h = a.take();
    h.gh.fill(3);
    h.count.fill(3);
    for (let j = 0; j < F; j++) a.feats[j] = j;
    a.kernel.build(100, m, h.ptr, 0, F);
    assertSameBins(h, want, all, 'feature loop');
    h.gh.fill(3);
    a.parts.forEach((_, p) => a.kernel[`buildPart${p}`](100, m, h.ptr, 0, 0));
    assertSameBins(h, want, all, 'unrolled parts');
    for (const threads of [1, 2, 3]) {
      const pool = new HistPool(a, threads);
      try {
        assert.equal(pool.threaded, threads > 1);
        h.gh.fill(3);
        pool.build(100, m, h);
        assertSameBins(h, want, all, `${threads} threads`);
        // A tree of some features only: those features' bins, whichever thread adds them.
        const some = [1, 2, 4, 6];
        pool.setFeatures(Int32Array.from(some));
        h.gh.fill(3);
        pool.build(100, m, h);
        assertSameBins(h, reference(a, 100, m, some), some, `${threads} threads, features ${some}`);
      } finally {
        await pool.close();
      }
    }
  });

  it("subtracts a child's histogram from its parent's: the sibling's histogram", () => {
    const F = 4;
    // Multiples of 1/1024: every sum is exact, so parent − child equals the sibling's own sums exactly.
    const a = filledArena(5000, F, 1, (rng) => Math.round((rng() - 0.5) * 2048) / 1024);
    for (let j = 0; j < F; j++) a.feats[j] = j;
    const [parent, child, sibling] = [a.take(), a.take(), a.take()];
    a.kernel.build(0, 5000, parent.ptr, 0, F);
    a.kernel.build(0, 1800, child.ptr, 0, F);
    a.kernel.build(1800, 5000, sibling.ptr, 0, F);
    a.kernel.subtract(parent.ptr, child.ptr, 0, F);
    assert.deepEqual(Array.from(parent.gh), Array.from(sibling.gh));
    assert.deepEqual(Array.from(parent.count), Array.from(sibling.count));
  });

  it('partitions rows stably by a split, missing codes to the chosen side, in pieces on helper threads', async () => {
    const n = 40_000;
    const a = filledArena(n, 3, 3, () => 0);
    for (const threads of [1, 3])
      for (const missLeft of [0, 1]) {
        const m = drawRows(a, 0.9, 8);
        const before = Array.from(a.rows.subarray(0, m));
        // Each row's gradient pair names its row: it must move with the row.
        for (let k = 0; k < m; k++) a.gh.set([before[k], -before[k]], 2 * k);
        const goesLeft = (i: number) => {
          const c = codeOf(a, i, 1);
          return c === MISSING ? missLeft === 1 : c <= 30;
        };
        const want = [
          ...before.slice(0, 7),
          ...before.slice(7).filter(goesLeft),
          ...before.slice(7).filter((i) => !goesLeft(i)),
        ];
        const pool = new HistPool(a, threads);
        try {
          const mid = pool.partition(7, m, 1, 30, missLeft);
          assert.equal(mid, 7 + before.slice(7).filter(goesLeft).length);
          assert.deepEqual(Array.from(a.rows.subarray(0, m)), want, `${threads} threads, missing left ${missLeft}`);
          const pairs = Array.from(a.gh.subarray(0, 2 * m));
          assert.deepEqual(
            pairs,
            want.flatMap((i) => [i, -i]),
            `gradient pairs move with their rows, ${threads} threads`,
          );
          const S = a.layout.stride;
          for (let k = 0; k < m; k++)
            for (let j = 0; j < 3; j++)
              assert.equal(
                a.leafCodes[k * S + j],
                codeOf(a, want[k], j),
                `codes move with their rows, ${threads} threads`,
              );
        } finally {
          await pool.close();
        }
      }
  });

  it('grows its memory to the histograms a tree holds, and says so when rows × features exceed 4 GiB', () => {
    const a = new Arena(arenaLayout(100, 3, 40), featureParts(3, 1));
    const before = a.memory.buffer.byteLength;
    const hs = Array.from({ length: 40 }, () => a.take());
    assert.ok(a.memory.buffer.byteLength > before);
    hs[0].gh[5] = 1.5;
    assert.equal(new Float64Array(a.memory.buffer, hs[0].ptr, 8)[5], 1.5, 'views made before a growth stay valid');
    assert.throws(() => a.take(), /more than 40 histograms/);
    a.release(hs[3]);
    assert.equal(a.take(), hs[3]);
    assert.throws(() => arenaLayout(100_000_000, 50, 32), /4 GiB a WebAssembly memory holds/);
  });
});
