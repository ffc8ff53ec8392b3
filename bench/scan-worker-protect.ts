/**
 * bench/scan-worker.ts with the protect function loaded first, exactly as Lambda loads it
 * (functions/protect.ts: config, AWS SDK, Powertools, the prober), so that the peak RSS
 * measured is what a protect Lambda holds while it scans — not the engine alone.
 */
import '../functions/protect.js';
import './scan-worker.js';
