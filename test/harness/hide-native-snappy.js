// Preload (node --require) that makes require('snappy') fail, as in the Lambda bundle, where the
// native binding is not shipped. Touches $PV_HIDDEN_SNAPPY_MARKER when it refuses, so a test can
// tell that the code under test asked for the binding and went on without it.
const Module = require('node:module');
const { writeFileSync } = require('node:fs');

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === 'snappy') {
    if (process.env.PV_HIDDEN_SNAPPY_MARKER) writeFileSync(process.env.PV_HIDDEN_SNAPPY_MARKER, 'refused\n');
    const err = new Error("Cannot find module 'snappy'");
    err.code = 'MODULE_NOT_FOUND';
    throw err;
  }
  return resolve.call(this, request, ...rest);
};
