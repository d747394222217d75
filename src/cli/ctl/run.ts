import type { Command } from 'commander';
import { CtlClient } from './client.js';
import { resolveTarget, type CtlOptions } from './target.js';

export const out = (text: string) => process.stdout.write(`${text}\n`);

/** Resolves the cluster from the global options, opens the DCS reader and REST client, always closes them. */
export async function withClient<T>(
  cmd: Command,
  fn: (c: CtlClient, g: CtlOptions) => Promise<T>,
): Promise<T> {
  const g = cmd.optsWithGlobals() as CtlOptions;
  const client = await CtlClient.open(await resolveTarget(g));
  try {
    return await fn(client, g);
  } finally {
    await client.close();
  }
}
