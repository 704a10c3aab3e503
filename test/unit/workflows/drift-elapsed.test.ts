/**
 * The drift gate against a champion trained far from this run (workflows/run/drift.ts): more than one horizon apart,
 * a block is reported as a warning (features counted in days move with the clock); within a horizon it stands.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { elapsedApart } from '../../../workflows/run/drift';

const H = 30 * 86_400_000;

describe('drift against a champion trained long before', () => {
  it('blocks between retrains a day or a horizon apart; reports, not blocks, beyond one horizon, either way', () => {
    assert.equal(elapsedApart(null, '2026-11-01T00:00:00Z', H), null, 'no champion cutoff: the block stands');
    assert.equal(elapsedApart('2026-10-31T00:00:00Z', '2026-11-01T00:00:00Z', H), null);
    assert.equal(elapsedApart('2026-10-02T00:00:00Z', '2026-11-01T00:00:00Z', H), null, 'exactly one horizon');
    const far = elapsedApart('2024-03-31T00:00:00.000Z', '2026-11-01T00:00:00.000Z', H);
    assert.match(far!, /^not blocking: the champion was trained at 2024-03-31T00:00:00.000Z, 945 days from this run/);
    assert.match(elapsedApart('2026-11-01T00:00:00Z', '2024-03-31T00:00:00Z', H)!, /945 days/);
  });
});
