/** The CDK app (cdk.json: "app": "npx tsx cdk/bin/app.ts"). A bad cdk.json value stops synth with the key and the fix. */
import { App } from 'aws-cdk-lib';
import { ConfigError } from '../lib/config';
import { buildPromvault, FEATURE_FLAGS } from '../lib/synth';

try {
  buildPromvault(new App({ context: { ...FEATURE_FLAGS } }));
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`promvault: ${err.message}`);
  process.exit(1);
}
