import type { Command } from 'commander';
import { register as render } from './render.js';
import { register as route } from './route.js';
import { register as status } from './status.js';

/** Every subcommand's `register`. Add one line per new command module. */
export const commands: ReadonlyArray<(program: Command) => void> = [route, render, status];
