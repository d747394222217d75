import type { Command } from 'commander';

type Register = (program: Command) => void;

/**
 * Every subcommand by name, each module loaded on demand: `switchyard route` reads only the router's
 * module graph (not the agent, patronictl-style `ctl` with pg, or the switchover workflow), which keeps
 * the long-running router's memory and startup down. Add one line per new command module.
 */
export const COMMANDS: Readonly<Record<string, () => Promise<Register>>> = {
  route: async () => (await import('./route.js')).register,
  render: async () => (await import('./render.js')).register,
  check: async () => (await import('./check.js')).register,
  status: async () => (await import('./status.js')).register,
  agent: async () => (await import('./agent.js')).register,
  ctl: async () => (await import('./ctl/index.js')).register,
  switchover: async () => (await import('./switchover.js')).register,
  'before-stop': async () => (await import('./before-stop.js')).register,
};

/**
 * The `register` functions `argv` needs: the named subcommand's alone, or every one (in the order
 * above, which is the order of `--help`) when argv names none (help, --version, a typo).
 */
export async function commandsFor(argv: readonly string[]): Promise<Register[]> {
  const name = argv[2];
  const only = name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (only) return [await only()];
  return Promise.all(Object.values(COMMANDS).map((load) => load()));
}
