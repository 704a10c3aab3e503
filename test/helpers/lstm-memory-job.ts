/**
 * A child-process job for test/unit/ml/lstm-process-memory.test.ts: LSTM predictions over many batches of long
 * sequences on tfjs-node, returning how much the process's RSS grew after the first batch.
 */
import { serveThread } from '../../infra/threads';
import { createLstmModel, predictSequences } from '../../ml/lstm';
import { mulberry32 } from '../../ml/random';
import { selectBackend } from '../../ml/tf-backend';
import { lstmParams } from '../../pipelines/schema/model';

serveThread(async (job: { n: number; batches: number }) => {
  const { backend } = await selectBackend();
  const T = 30;
  const rng = mulberry32(7);
  const tokens = new Int32Array(job.n * T);
  const numeric = new Float32Array(job.n * T * 2);
  for (let i = 0; i < job.n; i++)
    for (let t = T - 1 - Math.floor(rng() * T); t < T; t++) {
      tokens[i * T + t] = 1 + Math.floor(rng() * 3);
      numeric[(i * T + t) * 2] = rng();
    }
  const s = { ids: [], labels: new Uint8Array(job.n), tokens, numeric, length: T };
  const model = createLstmModel(lstmParams.parse({}), 3, T, 1);
  const rows = Uint32Array.from({ length: job.n }, (_, i) => i);
  let first = 0;
  for (let b = 0; b < job.batches; b++) {
    predictSequences(model, s, rows);
    if (b === 0) first = process.memoryUsage().rss;
  }
  model.dispose();
  return { backend, grewBytes: process.memoryUsage().rss - first };
});
