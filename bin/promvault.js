#!/usr/bin/env node
// Runs the TypeScript CLI directly: no build step between a clone and `npx promvault`.
// The AWS SDK's Node-version notice speaks to SDK developers, not to users of this command.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
require('tsx/cjs');
require('../cli/main.ts')
  .main(process.argv)
  .then((code) => {
    process.exitCode = code;
  });
