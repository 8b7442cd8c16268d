#!/usr/bin/env node
/**
 * Fails when a locked package's declared Node range does not hold for every Node version this
 * project declares (package.json engines.node): npm would print EBADENGINE on some of them, and
 * the package may use an API they lack. Reads package-lock.json, which records each `engines`.
 */
const fs = require('node:fs');
const path = require('node:path');
const semver = require('semver');

const root = path.resolve(__dirname, '..');
const ours = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).engines?.node;
if (!ours) {
  console.error('package.json declares no engines.node: declare the Node versions promvault supports');
  process.exit(1);
}
const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
const bad = [];
for (const [where, pkg] of Object.entries(lock.packages)) {
  const theirs = pkg.engines?.node;
  // Optional packages npm skips when their engines do not hold (platform binaries).
  if (where === '' || theirs === undefined || pkg.optional) continue;
  if (!semver.validRange(theirs) || !semver.subset(ours, theirs))
    bad.push(`${where.replace(/^.*node_modules\//, '')}@${pkg.version} needs node ${theirs}`);
}
if (bad.length > 0) {
  console.error(`engines.node ${ours} (package.json) allows versions these packages do not support:`);
  for (const b of bad) console.error(`  ${b}`);
  console.error('Pin them to releases that support our range, or narrow engines.node.');
  process.exit(1);
}
