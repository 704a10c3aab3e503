/**
 * Finds or builds Versity Gateway, the S3-compatible server of the tests and of `funnelcast up --store local-s3`
 * (store/versitygw.ts), and prints its path. `.ci/run` calls it so that the build happens once, visibly, before the
 * tests rather than inside a test's timeout.
 */
import { findVersityGw } from '../store/versitygw';

process.stdout.write(`${findVersityGw()}\n`);
