/**
 * How many CPU-heavy steps one worker process runs at once: from the cores and a memory budget.
 *
 *   FUNNELCAST_MEMORY           the process tree's budget (default 4GiB; "6GiB", "4096MB", bytes)
 *   FUNNELCAST_CPU_STEP_MEMORY  what one CPU step may need (default 1GiB)
 *
 * A CPU step's need is estimated as its working set at the sizes we run: the feature matrix in float32, its binned
 * copy and the training rows' copy (≈ 9 bytes × rows × features: 3.26 M × 35 ≈ 1 GiB at 10 M events), set by
 * FUNNELCAST_CPU_STEP_MEMORY. One GiB of the budget is kept for the rest of the process tree (the workflows and
 * I/O steps, DuckDB's own budget is FUNNELCAST_DUCKDB_MEMORY, the embedded Temporal server). Each step already
 * spreads its work over every core (tree and prediction threads), so more slots than cores only add contention.
 */
import { availableParallelism } from 'node:os';

const GiB = 1024 ** 3;

/** Bytes from "4GiB", "4GB", "512MiB", "4096MB" or a plain number of bytes. */
export function parseBytes(text: string, setting: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?\s*$/i.exec(text);
  if (!m) throw new Error(`${setting}="${text}" is not a size: write e.g. 4GiB, 4096MB or a number of bytes`);
  const unit = (m[2] ?? 'b').toLowerCase();
  const power = { b: 0, k: 1, m: 2, g: 3, t: 4 }[unit[0] as 'b' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(m[1]) * 1024 ** power);
}

export function memoryBudget(env = process.env): number {
  return env.FUNNELCAST_MEMORY ? parseBytes(env.FUNNELCAST_MEMORY, 'FUNNELCAST_MEMORY') : 4 * GiB;
}

export interface CpuSlots {
  slots: number;
  cores: number;
  budgetBytes: number;
  stepBytes: number;
}

/** min(cores, (budget − 1 GiB) / step need), at least 1; FUNNELCAST_CPU_CONCURRENCY overrides it. */
export function cpuSlots(env = process.env, cores = availableParallelism()): CpuSlots {
  const budgetBytes = memoryBudget(env);
  const stepBytes = env.FUNNELCAST_CPU_STEP_MEMORY
    ? parseBytes(env.FUNNELCAST_CPU_STEP_MEMORY, 'FUNNELCAST_CPU_STEP_MEMORY')
    : GiB;
  const byMemory = Math.floor((budgetBytes - GiB) / stepBytes);
  const fixed = Number(env.FUNNELCAST_CPU_CONCURRENCY);
  const slots = fixed >= 1 ? Math.floor(fixed) : Math.max(1, Math.min(cores, byMemory));
  return { slots, cores, budgetBytes, stepBytes };
}
