import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The project root (the folder with package.json), found by walking up from the compiled file. Compiled code
 * lives in dist/ (or a helper's dist-*), so bundled files such as pipelines/*.json and data/ are read from the
 * source tree, never copied into the build output.
 */
export function projectRoot(from = __dirname): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the funnelcast project root (package.json) above ${from}`);
    dir = up;
  }
}
