import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpuSlots, memoryBudget, parseBytes } from '../../../infra/capacity';

const GiB = 1024 ** 3;

describe('CPU slots from the cores and the memory budget', () => {
  it('reads sizes in the usual units and names the setting when it cannot', () => {
    assert.equal(parseBytes('4GiB', 'X'), 4 * GiB);
    assert.equal(parseBytes('512 MB', 'X'), 512 * 1024 ** 2);
    assert.equal(parseBytes('1073741824', 'X'), GiB);
    assert.throws(() => parseBytes('lots', 'FUNNELCAST_MEMORY'), /FUNNELCAST_MEMORY="lots" is not a size/);
    assert.equal(memoryBudget({}), 4 * GiB);
  });

  it('is min(cores, (budget − 1 GiB) / step need), at least 1, unless fixed', () => {
    assert.equal(cpuSlots({}, 2).slots, 2); // default budget 4 GiB, 1 GiB a step: 3 by memory, 2 cores
    assert.equal(cpuSlots({}, 8).slots, 3);
    assert.equal(cpuSlots({ FUNNELCAST_MEMORY: '2GiB', FUNNELCAST_CPU_STEP_MEMORY: '2GiB' }, 8).slots, 1);
    assert.equal(cpuSlots({ FUNNELCAST_MEMORY: '16GiB', FUNNELCAST_CPU_STEP_MEMORY: '3GiB' }, 8).slots, 5);
    assert.equal(cpuSlots({ FUNNELCAST_CPU_CONCURRENCY: '6' }, 2).slots, 6);
  });
});
