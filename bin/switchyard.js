#!/usr/bin/env node
// Entry point for `npx switchyard` and the installed bin: runs the compiled CLI (built by `npm ci` via `prepare`).
import { main } from '../dist/src/cli/main.js';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err?.stack ?? String(err));
    process.exitCode = 1;
  },
);
