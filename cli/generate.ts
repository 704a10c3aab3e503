/** `funnelcast generate`: synthetic events calibrated to RetailRocket (see data/generator.ts). */
import { parseArgs } from 'node:util';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { writeEventsCsv } from '../data/generator';
import { EXIT, int, pct, UsageError, print } from './format';
import { parseDateOption } from './dates';
import { parseEffects, type SimulatedCampaign } from '../data/campaign-sim';

/** The --campaign options, checked before generating. */
function simulatedCampaign(v: Record<string, string | boolean | undefined>): SimulatedCampaign | undefined {
  if (!v.campaign) return undefined;
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(String(v.campaign))) throw new UsageError('--campaign must be a campaign name');
  if (!v['campaign-at']) throw new UsageError('--campaign needs --campaign-at <date> (when it was sent)');
  const windowDays = Number(v['campaign-window']);
  const controlShare = Number(v['control-share']);
  if (!Number.isInteger(windowDays) || windowDays < 1) throw new UsageError('--campaign-window must be whole days');
  if (!(controlShare >= 0 && controlShare <= 0.9)) throw new UsageError('--control-share must be from 0 to 0.9');
  let effects: Record<string, number>;
  try {
    effects = parseEffects(String(v.effects));
  } catch (e) {
    throw new UsageError(`--effects: ${(e as Error).message}`);
  }
  return {
    name: String(v.campaign),
    at: parseDateOption('campaign-at', String(v['campaign-at'])),
    windowDays,
    controlShare,
    salt: String(v['control-salt'] ?? ''),
    effects,
  };
}

export const GENERATE_HELP = `Usage: funnelcast generate --users <n> --seed <s> --out <dir> [--days d] [--engagement x] [--start <date>] [--epoch-ms] [--json]
       [--campaign <name> --campaign-at <date> [--campaign-window <days>] [--effects A=0.1,B=0,C=-0.05] [--control-share 0.1] [--control-salt s]]

Writes <dir>/events.csv.gz: user_id, timestamp, event (view | addtocart | transaction), item_id, revenue,
session_id. Shaped like RetailRocket (96.7 % views, 2.5 % add-to-cart, 0.8 % transactions, heavy-tailed visits,
sessions, weekly rhythm); conversion depends on behaviour, so models have something real to learn.
The same --seed gives the same bytes.

--campaign simulates a delivered campaign with a known effect per segment (ground truth for \`measure\`):
users are split into the --effects segments (equal shares), held out as control exactly as funnelcast assigns
the campaign's control group (same name, --control-share and --control-salt as the definition), and the
treatment users' chance of buying in [--campaign-at, + --campaign-window days) moves by their segment's effect.
Also writes <dir>/truth.csv (user_id, segment, arm, y0, y1: both potential outcomes) and <dir>/customers.csv
(user_id, segment).

Example:
  funnelcast generate --users 1000000 --seed 1 --out /tmp/events
`;

/** Fails before minutes of generating when the output folder cannot be created or written. */
function assertWritableFolder(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    const probe = join(dir, `.funnelcast-write-test-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (e) {
    throw new UsageError(`--out ${dir} is not a writable folder: ${(e as Error).message}`);
  }
}

export async function generateCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      users: { type: 'string' },
      seed: { type: 'string', default: '1' },
      out: { type: 'string' },
      days: { type: 'string', default: '120' },
      engagement: { type: 'string', default: '1' },
      start: { type: 'string', default: '2024-01-01' },
      'epoch-ms': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      campaign: { type: 'string' },
      'campaign-at': { type: 'string' },
      'campaign-window': { type: 'string', default: '30' },
      effects: { type: 'string', default: 'A=0.1,B=0,C=-0.05' },
      'control-share': { type: 'string', default: '0.1' },
      'control-salt': { type: 'string', default: '' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    print(GENERATE_HELP);
    return EXIT.ok;
  }
  const users = Number(values.users);
  const seed = Number(values.seed);
  const days = Number(values.days);
  const engagement = Number(values.engagement);
  if (!Number.isInteger(users) || users < 1 || users > 50_000_000)
    throw new UsageError('--users must be an integer from 1 to 50,000,000');
  if (!Number.isInteger(seed) || seed < 0) throw new UsageError('--seed must be a non-negative integer');
  if (!Number.isInteger(days) || days < 1 || days > 3650)
    throw new UsageError('--days must be an integer from 1 to 3650');
  if (!(engagement > 0 && engagement <= 100)) throw new UsageError('--engagement must be in (0, 100]');
  if (!values.out) throw new UsageError('--out <dir> is required');
  const start = parseDateOption('start', values.start!);
  const campaign = simulatedCampaign(values);
  const file = join(resolve(values.out), 'events.csv.gz');
  assertWritableFolder(dirname(file));
  const started = performance.now();
  const stats = await writeEventsCsv(file, {
    users,
    seed,
    days,
    engagement,
    start,
    timestampFormat: values['epoch-ms'] ? 'epoch_ms' : 'iso',
    campaign,
  });
  const seconds = (performance.now() - started) / 1000;
  if (values.json) print(JSON.stringify({ file, seconds, ...stats }, null, 2) + '\n');
  else
    print(
      `Wrote ${int(stats.events)} events of ${int(users)} users to ${file} in ${seconds.toFixed(1)} s\n` +
        Object.entries(stats.byEvent)
          .map(([e, n]) => `  ${e.padEnd(12)} ${int(n).padStart(12)}  ${pct(n / stats.events)}`)
          .join('\n') +
        '\n',
    );
  return EXIT.ok;
}
