// Every workflow the worker registers. Workflows import activities by type only (see retrain.ts).
export { retrainWorkflow, progressQuery } from './retrain';
export { backfillWorkflow } from './backfill';
export { startRunWorkflow } from './start';
