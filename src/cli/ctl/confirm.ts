import { createInterface } from 'node:readline/promises';
import { SwitchyardError } from '../../errors.js';

/**
 * Asks `question [y/N]` on the terminal. `--force` answers yes; without a terminal (a script, a pipe)
 * nothing is asked and the command is refused, so nothing disruptive runs unattended by accident.
 */
export async function confirm(question: string, force: boolean | undefined): Promise<void> {
  if (force) return;
  const answer = await ask(`${question} [y/N] `, 'add --force to confirm without a prompt');
  if (!/^y(es)?$/i.test(answer.trim()))
    throw new SwitchyardError('SY_ERR_AGENT', 'aborted: not confirmed', { exitCode: 1 });
}

/** Asks for the exact `expected` text (the cluster name before `ctl remove`). */
export async function confirmTyped(
  question: string,
  expected: string,
  given: string | undefined,
): Promise<void> {
  const answer =
    given ?? (await ask(`${question}: `, `add --confirm ${expected} to confirm without a prompt`)).trim();
  if (answer !== expected)
    throw new SwitchyardError(
      'SY_ERR_AGENT',
      `aborted: expected ${JSON.stringify(expected)}, got ${JSON.stringify(answer)}`,
    );
}

async function ask(question: string, hint: string): Promise<string> {
  if (!process.stdin.isTTY)
    throw new SwitchyardError(
      'SY_ERR_AGENT',
      `refused: this needs a confirmation and stdin is not a terminal; ${hint}`,
      {
        exitCode: 2,
      },
    );
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}
