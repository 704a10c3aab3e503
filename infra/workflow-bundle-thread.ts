/** Worker-thread job for workflowBundleOption: bundles the workflows away from the event loop. */
import { serveThread } from './threads';
import { bundleWorkflows } from './workflow-bundle';

serveThread((job: { entry: string }) => bundleWorkflows(job.entry));
