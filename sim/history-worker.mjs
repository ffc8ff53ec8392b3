// A worker thread of sim/runs.ts: register tsx's loader first (a worker does not inherit the
// parent's), then load the TypeScript module, which plays the seeds it is given.
import { register } from 'tsx/esm/api';

register();
await import('./runs.ts');
