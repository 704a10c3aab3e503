/**
 * Finds or builds the Temporal CLI (see infra/temporal.ts for the search order) and prints its path.
 * `.ci/run` calls it so that the build happens once, visibly, before the tests.
 */
import { findTemporalCli } from '../infra/temporal';

const cli = findTemporalCli();
process.stdout.write(`${cli}\n`);
