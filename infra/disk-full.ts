/**
 * A full disk, said as such. Node reports ENOSPC; DuckDB says "No space left on device" deep inside an IO or
 * transaction error, and a failed write's ROLLBACK used to replace it with "no transaction is active".
 */
export function isDiskFull(e: unknown): boolean {
  const errors = e instanceof AggregateError ? [e, ...(e.errors as unknown[])] : [e];
  return errors.some(
    (x) =>
      (x as NodeJS.ErrnoException)?.code === 'ENOSPC' ||
      /No space left on device|ENOSPC|disk is full/i.test((x as Error)?.message ?? ''),
  );
}

/** An error saying what could not be written and that nothing half-written was kept, or undefined. */
export function diskFullError(e: unknown, writing: string, kept: string): Error | undefined {
  if (!isDiskFull(e)) return undefined;
  const detail = ((e as Error)?.message ?? '').split('\n')[0];
  return new Error(`out of disk space while ${writing}: ${kept}; free space and run again (${detail})`, { cause: e });
}
