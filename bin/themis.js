#!/usr/bin/env node
// The published entry point: register tsx's ESM loader, then run the TypeScript CLI.
// (tsx is a runtime dependency for this reason.)
import { register } from 'tsx/esm/api';

register();
await import('./themis.ts');
