/** A retry's sleep leaves nothing on the caller's signal, which may outlive the request (middy 6 shares one). */
import { getEventListeners } from 'node:events';
import { sleep } from '../../../lambdas/adapters/http-retry';

test('a finished sleep removes its abort listener', async () => {
  const signal = new AbortController().signal;
  for (let i = 0; i < 20; i++) await sleep(1, signal);
  expect(getEventListeners(signal, 'abort')).toHaveLength(0);
});

test('an aborted sleep rejects with the reason at once', async () => {
  const controller = new AbortController();
  const slept = sleep(60_000, controller.signal);
  controller.abort(new Error('stop'));
  await expect(slept).rejects.toThrow('stop');
  expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
});
