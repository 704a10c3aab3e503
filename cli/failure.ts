/**
 * How a failed command ends: its exit code (README's table) and, with `--json`, one JSON object
 * `{"error": …, "code": …}` on stdout, so a script never has to parse stderr. Commands report failures either by
 * throwing or by writing to stderr and returning a code; both end up here.
 */
import { EXIT, UsageError } from './format';

const BAD_INPUT = ['PipelineDefinitionError', 'InputError', 'TemporalCliNotFoundError'];

export function exitCodeOf(e: Error): number {
  if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) return EXIT.usage;
  if (e.name === 'InterruptedError') return EXIT.cancelled;
  if (e.name === 'NotFoundError') return EXIT.notFound;
  if (BAD_INPUT.includes(e.name)) return EXIT.badInput;
  return EXIT.failed;
}

/**
 * In `--json` mode, remembers what the command wrote to stderr and whether it wrote to stdout; `report` then prints
 * the JSON failure unless the command already answered on stdout (e.g. `models verify --json` reports mismatches).
 */
export function jsonFailures(): { report: (code: number, error?: Error) => void } {
  let stderrText = '';
  let stdoutUsed = false;
  const err = process.stderr.write.bind(process.stderr);
  const out = process.stdout.write.bind(process.stdout);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    stderrText += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return err(chunk, ...rest);
  }) as typeof process.stderr.write;
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    stdoutUsed = true;
    return out(chunk, ...rest);
  }) as typeof process.stdout.write;
  return {
    report: (code, error) => {
      if (code === EXIT.ok || stdoutUsed) return;
      // A stderr report's first paragraph is the message; what follows is help text.
      const message = error?.message ?? stderrText.trim().split(/\n\s*\n/)[0];
      out(JSON.stringify({ error: message || `exit code ${code}`, code }) + '\n');
    },
  };
}
