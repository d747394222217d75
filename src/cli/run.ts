// Development entry: `node --import tsx src/cli/run.ts <command>` runs the CLI from source (tests use it).
import { main } from './main.js';

process.exitCode = await main(process.argv);
