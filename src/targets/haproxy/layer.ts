import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { describeError, SwitchyardError } from '../../errors.js';
import { defaultTemplate } from '../../paths.js';
import {
  loadTemplate,
  readBackUntilApplied,
  renderFile,
  restoreBackup,
  runCommand,
  type CompiledTemplate,
} from '../../render/index.js';
import { serial } from '../../util/serial.js';
import type { HaproxyConfig } from './config.js';
import type { HaproxyTemplateContext } from './context.js';
import { missingServers } from './plan.js';
import { parseServersState, runtimeQuery, type LiveServer } from './runtime.js';

/** How often the running servers are read back while a reload takes effect. */
const VERIFY_POLL_MS = 100;

/**
 * HAProxy's I/O: the rendered file (validated, atomic, one write at a time), the reload command with
 * retries and rollback, and the runtime API socket. Decides nothing: HaproxyTarget says what to do.
 */
export class HaproxyLayer {
  /** The rendered file's absolute path; null in remote mode (no `output`: nothing is written). */
  readonly output: string | null;
  reloads = 0;
  rollbacks = 0;
  fileError: string | null = null;
  private template: CompiledTemplate | null = null;
  private readonly oneWrite = serial();

  constructor(
    private readonly config: HaproxyConfig,
    private readonly configDir: string,
    private readonly log: Logger,
  ) {
    this.output = config.output === undefined ? null : resolve(configDir, config.output);
  }

  async render(context: HaproxyTemplateContext): Promise<string> {
    this.template ??= await loadTemplate(
      resolve(this.configDir, this.config.template ?? defaultTemplate('haproxy.cfg.hbs')),
    );
    return this.template(context);
  }

  /** Renders and writes the file (validated, atomic); returns whether it changed. One write at a time. */
  writeFile(context: HaproxyTemplateContext): Promise<boolean> {
    return this.oneWrite(async () => {
      try {
        if (this.output === null) return false; // remote mode: no file
        const file = await renderFile({
          path: this.output,
          contents: await this.render(context),
          check: this.config.check ?? undefined,
          checkTimeoutMs: this.config.command_timeout_ms,
        });
        this.fileError = null;
        return file.didRender;
      } catch (err) {
        this.fileError = describeError(err);
        throw err;
      }
    });
  }

  /** One socket command's bound: the configured command timeout, at most 2 s (local or management LAN). */
  get runtimeTimeoutMs(): number {
    return Math.min(2000, this.config.command_timeout_ms);
  }

  query(command: string): Promise<string> {
    return runtimeQuery(this.config.runtime_api as string, command, this.runtimeTimeoutMs);
  }

  async saveServerState(): Promise<void> {
    const state = await this.query('show servers state');
    await renderFile({
      path: resolve(this.configDir, this.config.state_file as string),
      contents: state,
      isBackupKept: false,
    });
  }

  /** Runs the reload command with retries; after the last failure restores the previous file. */
  async reload(): Promise<void> {
    const command = this.config.reload as string;
    if (this.config.runtime_api && this.config.state_file)
      await this.saveServerState().catch(() => undefined);
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.config.reload_attempts; attempt++) {
      try {
        await runCommand(command, { timeoutMs: this.config.command_timeout_ms, purpose: 'reload' });
        this.reloads += 1;
        return;
      } catch (err) {
        lastError = err;
        this.log.warn({ attempt, err: describeError(err) }, 'HAProxy reload failed');
        if (attempt < this.config.reload_attempts)
          await new Promise((r) => setTimeout(r, 200 * 2 ** (attempt - 1)));
      }
    }
    const restored = this.output !== null && (await restoreBackup(this.output).catch(() => false));
    if (restored) {
      this.rollbacks += 1;
      await runCommand(command, { timeoutMs: this.config.command_timeout_ms, purpose: 'reload' }).catch(
        () => undefined,
      );
    }
    throw new SwitchyardError(
      'SY_ERR_RELOAD_FAILED',
      `HAProxy reload failed ${this.config.reload_attempts} times (${describeError(lastError)}); ${restored ? `restored the previous ${this.output}` : 'no previous file to restore'}`,
      { cause: lastError },
    );
  }

  /**
   * After a reload: reads the running servers back until they include every server of the file,
   * bounded by `command_timeout_ms` (a reload by signal is asynchronous). Throws SY_ERR_RELOAD_FAILED
   * naming the missing servers when the reload did not take effect.
   */
  async verifyReload(context: HaproxyTemplateContext): Promise<Map<string, LiveServer>> {
    const timeoutMs = this.config.command_timeout_ms;
    return readBackUntilApplied<Map<string, LiveServer>>({
      timeoutMs,
      pollMs: VERIFY_POLL_MS,
      isReadErrorRetried: true,
      failure: (problem) =>
        `HAProxy reload did not take effect within ${timeoutMs} ms (the reload command succeeded, but ${problem}); ${this.output ?? 'the file'} is not live yet`,
      read: async () => {
        const live = parseServersState(await this.query('show servers state'));
        const missing = missingServers(context.clusters, live);
        return missing.length === 0
          ? { value: live }
          : { problem: `the running HAProxy lacks ${describeMissing(missing)}` };
      },
    });
  }
}

/** `app_primary/pg3, app_replicas/pg3 and 4 more`. */
export function describeMissing(missing: readonly string[]): string {
  const shown = missing.slice(0, 3).join(', ');
  return missing.length > 3 ? `${shown} and ${missing.length - 3} more` : shown;
}
