import { z } from 'zod';

/**
 * What the PgBouncer and pgcat targets' configs share: the admin console's deadlines (both reach it
 * through `admin-console.ts`) and the rule of `reload.method: command`.
 */
export const adminTimeoutFields = {
  connect_ms: z.number().int().positive().default(2000),
  command_ms: z
    .number()
    .int()
    .positive()
    .default(5000)
    .describe("One admin command, and the reload command (PgBouncer's PAUSE has `pause_ms`)."),
};

/** `reload.command` is required when `reload.method` is `command`. */
export function requireReloadCommand(
  reload: { readonly method: string; readonly command?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  if (reload.method === 'command' && !reload.command) {
    ctx.addIssue({
      code: 'custom',
      path: ['reload', 'command'],
      message: 'required when reload.method is command',
    });
  }
}
