/**
 * Regenerates the bundled sample data/sample/events.csv.gz byte for byte (fixed seed, fixed gzip settings).
 *   npm run build && node dist/scripts/make-sample.js
 */
import { join } from 'node:path';
import { projectRoot } from '../infra/root';
import { writeEventsCsv } from '../data/generator';

export const SAMPLE = {
  users: 4000,
  seed: 20240101,
  days: 150,
  engagement: 10,
  start: '2024-01-01T00:00:00Z',
  messiness: 0.004,
} as const;

async function main() {
  const file = join(projectRoot(), 'data', 'sample', 'events.csv.gz');
  const stats = await writeEventsCsv(file, SAMPLE);
  console.log(`${file}: ${stats.events} events + ${stats.messyRows} messy rows, ${JSON.stringify(stats.byEvent)}`);
}

if (require.main === module) void main();
