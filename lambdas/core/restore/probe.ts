/**
 * probe: what an answer says about a remote-write endpoint, before the first sample and for every
 * request after. A receiver answers an empty WriteRequest with an empty 2xx, or refuses it with a
 * short plain-text 4xx; a web page, an API's JSON, a 404 or an auth failure means the samples
 * would go nowhere. Pure: the adapter sends, this judges.
 */

/** One HTTP answer, as the adapter saw it. */
export interface TargetAnswer {
  readonly status: number;
  readonly contentType: string | null;
  readonly body: string;
}

/** The kind of body a remote-write receiver never sends, or undefined when it may be one. */
export function foreignBody(answer: TargetAnswer): string | undefined {
  const text = answer.body.trimStart();
  // An empty body is what receivers send, whatever type they label it (InfluxDB says JSON).
  if (text === '') return undefined;
  if (/html/i.test(answer.contentType ?? '') || text.startsWith('<')) return 'an HTML page';
  if (/json/i.test(answer.contentType ?? '') || text.startsWith('{') || text.startsWith('[')) return 'a JSON document';
  return undefined;
}

export type ProbeVerdict =
  | { readonly verdict: 'receiver' }
  /** Worth asking again (5xx, 429): the target may be starting or busy. */
  | { readonly verdict: 'retry' }
  | { readonly verdict: 'refused'; readonly problem: string; readonly fix: string };

const WRONG_URL_FIX =
  'give the remote-write URL of the target (Prometheus: http://HOST:9090/api/v1/write, started with --web.enable-remote-write-receiver; Mimir/Cortex: /api/v1/push; VictoriaMetrics: /api/v1/write; InfluxDB 1.x: /api/v1/prom/write?db=NAME)';

/** Judges the answer to an empty WriteRequest, which carries no sample. */
export function judgeProbe(answer: TargetAnswer): ProbeVerdict {
  const { status } = answer;
  const quoted = quote(answer.body);
  if (status >= 500 || status === 429) return { verdict: 'retry' };
  if (status === 401 || status === 403) {
    return {
      verdict: 'refused',
      problem: `it refused the credentials with HTTP ${status}${quoted}`,
      fix: 'check --target-basic-auth, --target-bearer-token-file or --target-header (or the target secret)',
    };
  }
  const foreign = foreignBody(answer);
  if (status >= 200 && status < 300) {
    if (!foreign) return { verdict: 'receiver' };
    return {
      verdict: 'refused',
      problem: `it answered HTTP ${status} with ${foreign}, which no remote-write receiver sends`,
      fix: WRONG_URL_FIX,
    };
  }
  // A plain-text 400/415/422 comes from a receiver that read the request and wants samples in it.
  if ((status === 400 || status === 415 || status === 422) && !foreign) return { verdict: 'receiver' };
  return {
    verdict: 'refused',
    problem: `it answered HTTP ${status}${foreign ? ` with ${foreign}` : ''}${quoted}`,
    fix: /remote write receiver/i.test(answer.body)
      ? 'start the target Prometheus with --web.enable-remote-write-receiver'
      : WRONG_URL_FIX,
  };
}

function quote(body: string): string {
  const t = body.trim();
  if (t === '') return '';
  return `: ${JSON.stringify(t.length > 200 ? `${t.slice(0, 200)}…` : t)}`;
}
