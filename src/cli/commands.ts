import type { Command } from 'commander';

/** Every subcommand's `register`. Add one line per new command module. */
export const commands: ReadonlyArray<(program: Command) => void> = [];
