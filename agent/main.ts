// Runs the switchyard CLI from source (tests and development: `node --import tsx agent/main.ts agent -c node.yml`).
import { main } from '../src/cli/main.js';

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exitCode = 1;
  },
);
