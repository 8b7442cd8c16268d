/**
 * In process, concurrent Task invocations share @middy/core's one AbortSignal (on Lambda a
 * container runs one invocation at a time), so it legitimately holds one listener per request in
 * flight. Imported first by the local runner: the limit applies to signals created afterwards.
 */
import { setMaxListeners } from 'node:events';

/** Abort listeners one signal may hold before Node warns of a leak, in a local run. */
export const IN_PROCESS_MAX_LISTENERS = 1000;

setMaxListeners(IN_PROCESS_MAX_LISTENERS);
