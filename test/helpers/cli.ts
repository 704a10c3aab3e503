import { output } from '../../cli/format';

/** Runs a CLI command and returns its exit code and what it printed (the test runner owns the real stdout). */
export async function runCli(
  command: (argv: string[]) => Promise<number>,
  argv: string[],
): Promise<{ code: number; out: string }> {
  const write = output.write;
  let out = '';
  output.write = (s: string) => {
    out += s;
  };
  try {
    return { code: await command(argv), out };
  } finally {
    output.write = write;
  }
}
