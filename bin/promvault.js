#!/usr/bin/env node
// Runs the bundled CLI that `npm run build` writes (`prepare` runs it on `npm ci`).
// The AWS SDK's Node-version notice speaks to SDK developers, not to users of this command.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
let cli;
try {
  cli = require('../dist/promvault.js');
} catch (err) {
  if (err.code !== 'MODULE_NOT_FOUND' || !String(err.message).includes('dist/promvault.js')) throw err;
  process.stderr.write(
    'promvault: dist/promvault.js is missing: run `npm run build` (or `npm ci`) in the promvault checkout\n',
  );
  process.exit(1);
}
cli.main(process.argv).then((code) => {
  process.exitCode = code;
});
