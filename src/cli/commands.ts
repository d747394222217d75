import type { Command } from 'commander';
import { register as render } from './render.js';
import { register as route } from './route.js';
import { register as status } from './status.js';
import { register as switchover } from './switchover.js';
import { register as agent } from './agent.js';
import { register as ctl } from './ctl/index.js';
import { register as check } from './check.js';

/** Every subcommand's `register`. Add one line per new command module. */
export const commands: ReadonlyArray<(program: Command) => void> = [
  route,
  render,
  check,
  status,
  agent,
  ctl,
  switchover,
];
