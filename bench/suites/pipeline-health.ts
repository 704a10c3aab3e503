/**
 * The run's health as its Temporal history records it (`funnelcast status --json`, cli/run-history.ts): issue 17
 * asks for zero workflow-task timeouts and zero lost activity attempts (heartbeat timeouts, crashes) at 10 M
 * events, so the bench states them beside the times instead of leaving them to a reading of the logs.
 */
import { row, type BenchRow } from '../harness';
import type { RunHealth } from '../../cli/run-history';

export function healthRows(health: RunHealth | null, name: string, dataset: string): BenchRow[] {
  if (!health) return [];
  const note = 'from the histories of the run and of its planning workflow (definition, extract)';
  return [
    row({
      name,
      dataset,
      metric: 'workflow-task timeouts + failures (history)',
      ours: health.workflowTaskTimeouts + health.workflowTaskFailures,
      reference: null,
      better: 'lower',
      note,
    }),
    row({
      name,
      dataset,
      metric: 'activity attempts lost: activities retried + timed out (history)',
      ours: health.retriedActivities + health.activityTimeouts,
      reference: null,
      better: 'lower',
      note,
    }),
  ];
}
