import { judgeProbe, foreignBody } from '../../../../lambdas/core/restore/probe';

const answer = (status: number, body = '', contentType: string | null = null) => ({ status, body, contentType });

describe('judgeProbe', () => {
  it.each([
    ['an empty 204 (Prometheus, VictoriaMetrics, InfluxDB)', answer(204), 'receiver'],
    ['an empty 200 (Mimir, Cortex, Thanos)', answer(200), 'receiver'],
    ['a plain-text 400 about the empty request', answer(400, 'empty request'), 'receiver'],
    ['a 503 while starting', answer(503, 'starting'), 'retry'],
    ['a 429', answer(429), 'retry'],
    ['a 200 HTML page', answer(200, '<!doctype html><html>…', 'text/html; charset=utf-8'), 'refused'],
    ['a 200 page without a content type', answer(200, '  <html><body>hi</body></html>'), 'refused'],
    ['a 200 JSON document', answer(200, '{"status":"success"}', 'application/json'), 'refused'],
    ['a 400 JSON from a query API', answer(400, '{"status":"error","errorType":"bad_data"}'), 'refused'],
    ['a 404', answer(404, '404 page not found'), 'refused'],
    ['a 405', answer(405, 'Method Not Allowed'), 'refused'],
    ['a redirect', answer(302), 'refused'],
    ['a 401', answer(401, 'Unauthorized'), 'refused'],
    ['a 403', answer(403), 'refused'],
  ])('%s: %s', (_name, a, verdict) => {
    expect(judgeProbe(a).verdict).toBe(verdict);
  });

  it('says what to fix: credentials, the receiver flag, or the URL', () => {
    const auth = judgeProbe(answer(401));
    expect(auth.verdict === 'refused' && auth.fix).toMatch(/--target-basic-auth/);
    const flag = judgeProbe(
      answer(404, 'remote write receiver needs to be enabled with --web.enable-remote-write-receiver'),
    );
    expect(flag.verdict === 'refused' && flag.fix).toMatch(/--web.enable-remote-write-receiver/);
    const html = judgeProbe(answer(200, '<html></html>', 'text/html'));
    expect(html.verdict === 'refused' && html.problem).toMatch(/HTTP 200 with an HTML page/);
    expect(html.verdict === 'refused' && html.fix).toMatch(/\/api\/v1\/write/);
  });
});

describe('foreignBody', () => {
  it('passes what receivers send and names what they never do', () => {
    expect(foreignBody(answer(204))).toBeUndefined();
    expect(foreignBody(answer(400, 'out of bounds'))).toBeUndefined();
    expect(foreignBody(answer(200, '<p>', 'text/plain'))).toBe('an HTML page');
    expect(foreignBody(answer(204, '', 'application/json'))).toBeUndefined();
    expect(foreignBody(answer(200, 'hi', 'text/html'))).toBe('an HTML page');
    expect(foreignBody(answer(200, '[]'))).toBe('a JSON document');
  });
});
