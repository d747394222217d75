import { describeError } from '../../errors.js';
import { serial } from '../../util/serial.js';
import { defineTarget, type TargetCreateContext } from '../registry.js';
import type { ApplyResult, RouteSnapshot, Target, TargetContext } from '../types.js';
import {
  deconfigureAddress,
  findVip,
  queryInterface,
  type AddressOptions,
  type InterfaceState,
} from './address.js';
import { assertCanAnnounce } from './announce.js';
import { AnnounceBursts } from './announcer.js';
import { defaultVipDeps, type VipDeps } from './deps.js';
import { AnnounceSenders } from './senders.js';
import { vipConfigSchema, vipScope, type VipConfig } from './config.js';
import { VipError } from './exec.js';
import type { Decision } from './policy.js';
import { describeTake, planCycle, planFound } from './plan.js';
import { TakeGuards } from './guards.js';
import { AddressOps } from './ops.js';
import { claimDetached, defaultReleaseSync, releaseDetached, rememberDetached } from './orphans.js';
import { emptyCounters, type VipCounters, type VipStatus } from './status.js';

export { vipConfigSchema, vipScope, type VipConfig } from './config.js';
export { VipError } from './exec.js';
export type { VipDeps } from './deps.js';

interface CycleResult {
  readonly summary: string;
  readonly didChange: boolean;
}

/**
 * The floating virtual IP on the leader's host. Reconciles on every `apply` and on its own timer
 * (`check_interval_ms`): finds the address with `ip -j addr`, asks the pure policy whether to hold it,
 * adds/removes it and announces it (gratuitous ARP requests + replies, or unsolicited NA). Every cycle,
 * from `apply` or the timer, runs one at a time. `close()` removes the VIP; a synchronous `exit` hook is
 * the backstop for exits that skip `close()`. SIGKILL leaves the VIP: a systemd `ExecStopPost` and the
 * next start's stale-VIP removal cover that.
 */
export class VipTarget implements Target {
  readonly kind = 'vip';
  readonly name = 'vip';
  private readonly addressOptions: AddressOptions;
  private readonly bursts: AnnounceBursts;
  private readonly senders: AnnounceSenders;
  private snapshot: RouteSnapshot | null = null;
  private isHeld = false;
  private heldRevision: number | null = null;
  private wasUp: boolean | null = null;
  private ownMac: string | null = null;
  private readonly guards: TakeGuards;
  private readonly ops: AddressOps;
  /** The interface as last queried; a take uses its MAC and type without querying again. */
  private link: InterfaceState | null = null;
  private lastDecision: Decision | null = null;
  private lastSummary = 'not checked yet';
  private lastError: string | null = null;
  private heldSince: number | null = null;
  /**
   * The address may be on the interface because of this router: set before `ip addr add`, when an
   * address found at start or detached by the previous target is kept, and cleared once `ip addr del`
   * ran. `close()` and the exit hook remove the VIP only then: they release what the router added, and
   * only that.
   */
  private mayHold = false;
  /** When a release cycle last made sure the VIP is not on the interface. */
  private lastAbsentAt = Number.NEGATIVE_INFINITY;
  private readonly counters: VipCounters = emptyCounters();
  /** `apply`, the check timer, the second announce burst and close run one at a time. */
  private readonly oneAtATime = serial();
  private checkTimer: NodeJS.Timeout | null = null;
  private isClosed = false;
  private startedAt = 0;
  private readonly exitHook = () => this.releaseSync();

  constructor(
    private readonly config: VipConfig,
    private readonly scope: string,
    private readonly ctx: TargetContext,
    private readonly deps: VipDeps = defaultVipDeps(),
  ) {
    this.addressOptions = {
      exec: deps.exec,
      ip: config.ip_command,
      iface: config.interface,
      timeoutMs: config.command_timeout_ms,
    };
    this.senders = new AnnounceSenders(config, deps.exec, ctx.log, deps.createRawSender);
    this.ops = new AddressOps(this.addressOptions, this.senders);
    this.guards = new TakeGuards({
      config,
      exec: deps.exec,
      senders: this.senders,
      counters: this.counters,
      log: ctx.log,
      now: () => ctx.now(),
      snapshot: () => this.snapshot,
      isClosed: () => this.isClosed,
      ownMac: () => this.ownMac ?? this.link?.mac ?? null,
    });
    this.bursts = new AnnounceBursts({
      config,
      exec: deps.exec,
      senders: this.senders,
      counters: this.counters,
      log: ctx.log,
      serialize: (fn) => this.oneAtATime(fn),
      isHolding: () => this.isHeld && !this.isClosed,
      onFailed: (err) => (this.lastError = describeError(err)),
    });
  }

  /**
   * Starts the ARP helper, the exit hook and the check loop. A VIP the previous target detached on a
   * reload is adopted when it is this target's address; any other detached VIP (the address or
   * interface changed) is removed first, before this target can add its own.
   */
  async start(): Promise<void> {
    this.startedAt = this.ctx.now();
    if (this.deps.hasExitHook) process.on('exit', this.exitHook);
    const { adopted, others } = claimDetached({
      address: this.config.address,
      iface: this.config.interface,
    });
    if (adopted) this.mayHold = true;
    this.counters.releases += await releaseDetached(
      others,
      (old) => deconfigureAddress({ ...this.addressOptions, ip: old.ip, iface: old.iface }, old.address),
      this.ctx.log,
    );
    this.senders.warmUp();
    this.scheduleCheck(0);
  }

  async apply(snapshot: RouteSnapshot): Promise<ApplyResult> {
    this.snapshot = snapshot;
    const result = await this.oneAtATime(() => this.reconcile('apply'));
    return { generation: snapshot.generation, ...result };
  }

  /** Stops the checks and removes the VIP if this router added (or kept) it, and only then. */
  async close(): Promise<void> {
    if (this.isClosed) return this.oneAtATime.idle();
    this.isClosed = true;
    this.clearTimers();
    await this.oneAtATime(async () => {
      try {
        await this.bursts.stop();
        const removed = this.mayHold ? await this.ops.del(this.config.address) : false;
        this.mayHold = false;
        this.setHeld(false);
        const summary = removed
          ? `released ${this.config.address.cidr} from ${this.config.interface} on shutdown`
          : `${this.config.address.cidr} was not on ${this.config.interface} at shutdown`;
        if (removed) this.counters.releases++;
        this.lastSummary = summary;
        this.ctx.log.info(summary);
      } finally {
        this.senders.close();
        if (this.deps.hasExitHook) process.off('exit', this.exitHook);
      }
    });
  }

  /**
   * Stops this target WITHOUT removing the VIP, for a config reload that hands the address to a new
   * target at once: the new one finds it, keeps it if this host still leads (within its startup grace),
   * and removes it otherwise. Every other exit path must use `close()`.
   */
  async detach(): Promise<void> {
    if (this.isClosed) return this.oneAtATime.idle();
    this.isClosed = true;
    this.clearTimers();
    await this.oneAtATime(async () => {
      await this.bursts.stop();
      this.senders.close();
      if (this.deps.hasExitHook) process.off('exit', this.exitHook);
      if (this.mayHold) {
        const { address, interface: iface, ip_command: ip } = this.config;
        rememberDetached({ address, iface, ip }, this.deps.hasExitHook);
      }
      this.lastSummary = `detached from ${this.config.address.cidr} on ${this.config.interface} (left in place for a reload)`;
      this.ctx.log.info(this.lastSummary);
    });
  }

  status(): VipStatus {
    return {
      address: this.config.address.cidr,
      interface: this.config.interface,
      member: this.config.member,
      cluster: this.scope,
      isHeld: this.isHeld,
      heldSince: this.heldSince === null ? null : new Date(this.heldSince).toISOString(),
      decision: this.lastDecision?.action ?? null,
      reason: this.lastDecision?.reason ?? null,
      dcsPolicy: this.config.on_dcs_loss,
      dcsState: this.lastDecision?.dcsState ?? null,
      arpingFlavour: this.senders.arpingFlavourName,
      arpSender: this.senders.name,
      lastSummary: this.lastSummary,
      lastError: this.lastError,
      counters: { ...this.counters },
    };
  }

  private scheduleCheck(delayMs: number): void {
    if (this.isClosed) return;
    this.checkTimer = setTimeout(() => {
      this.checkTimer = null;
      void this.oneAtATime(() => this.reconcile('check'))
        .then((r) => {
          if (r.didChange) this.ctx.log.info(r.summary);
        })
        .catch((err: unknown) => this.ctx.log.warn({ err: describeError(err) }, 'VIP check failed'))
        .finally(() => this.scheduleCheck(this.config.check_interval_ms));
    }, delayMs);
    this.checkTimer.unref();
  }

  private clearTimers(): void {
    if (this.checkTimer) clearTimeout(this.checkTimer);
    this.bursts.cancelRepeat();
    this.checkTimer = null;
  }

  private async reconcile(trigger: 'apply' | 'check'): Promise<CycleResult> {
    if (this.isClosed) return { summary: 'closed', didChange: false };
    // cleared before, not after: an announcement failing in the background during this cycle stays
    this.lastError = null;
    try {
      const result = await this.cycle(trigger);
      this.lastSummary = result.summary;
      return result;
    } catch (err) {
      this.counters.errors++;
      this.lastError = describeError(err);
      throw err;
    }
  }

  private async cycle(trigger: 'apply' | 'check'): Promise<CycleResult> {
    const now = this.ctx.now();
    const step = planCycle({
      trigger,
      now,
      startedAt: this.startedAt,
      scope: this.scope,
      config: this.config,
      snapshot: this.snapshot,
      isHeld: this.isHeld,
      heldRevision: this.heldRevision,
      lastAbsentAt: this.lastAbsentAt,
      isLinkKnown: this.link?.exists === true,
    });
    if (step.kind === 'wait') {
      this.link ??= await queryInterface(this.addressOptions);
      return { summary: step.summary, didChange: false };
    }
    this.lastDecision = step.decision;
    switch (step.kind) {
      case 'idle':
        return { summary: step.summary, didChange: false };
      case 'release':
        return this.release(step.decision, now);
      case 'take':
        return this.take(step.decision, step.revision, this.link as InterfaceState, now);
      case 'inspect':
        return this.inspect(step.decision, step.revision, now);
    }
  }

  /** Queries the interface, then takes the VIP or keeps (and if needed re-announces) the one it finds. */
  private async inspect(decision: Decision, revision: number | null, now: number): Promise<CycleResult> {
    const { address: vip, interface: iface } = this.config;
    const state = await queryInterface(this.addressOptions);
    this.link = state;
    if (state.mac) this.ownMac = state.mac;
    const linkCameUp = state.isUp && this.wasUp === false;
    this.wasUp = state.isUp;
    if (!state.exists)
      throw new VipError('config', `cannot take ${vip.cidr}: interface ${iface} does not exist`);
    assertCanAnnounce(state, iface, vip);

    if (findVip(state, vip) === null) return this.take(decision, revision, state, now);

    this.mayHold = true;
    const why = planFound({
      isHeld: this.isHeld,
      linkCameUp,
      revision,
      heldRevision: this.heldRevision,
      needsAnnounce: this.bursts.needsAnnounce,
      isAnnouncing: this.bursts.announcer.isRunning,
      member: this.config.member,
      cidr: vip.cidr,
      iface,
    });
    this.setHeld(true, revision);
    if (why === null)
      return { summary: `holding ${vip.cidr} on ${iface}: ${decision.reason}`, didChange: false };
    const frames = await this.bursts.start();
    return {
      summary: `${why}; announced ${vip.cidr} on ${iface} (${frames}): ${decision.reason}`,
      didChange: true,
    };
  }

  /**
   * Adds the VIP (after the duplicate probe and the handover check) and announces it. The fast path
   * calls it with the link facts (MAC, type) learnt by an earlier check: a query first would put a
   * second process on the failover's critical path. Also repairs a VIP something else removed.
   */
  private async take(
    decision: Decision,
    revision: number | null,
    link: InterfaceState,
    now: number,
  ): Promise<CycleResult> {
    const { address: vip, interface: iface } = this.config;
    assertCanAnnounce(link, iface, vip);
    const waiting = (await this.guards.checkDuplicate(now)) ?? (await this.guards.handover());
    if (waiting) return { summary: waiting, didChange: false };
    this.mayHold = true;
    const added = await this.ops.add(vip, this.config.label);
    const wasHeld = this.isHeld;
    this.setHeld(true, revision);
    const frames = await this.bursts.start();
    const { summary, counter } = describeTake({
      added,
      wasHeld,
      cidr: vip.cidr,
      iface,
      frames,
      reason: decision.reason,
    });
    if (counter) this.counters[counter]++;
    return { summary, didChange: true };
  }

  /** Removes the VIP without looking first (`ip addr del` is idempotent): releasing is the fast path. */
  private async release(decision: Decision, now: number): Promise<CycleResult> {
    const { address: vip, interface: iface } = this.config;
    this.guards.clearConflict();
    // no announcement may leave after the address is gone: clients would learn a host that dropped it
    await this.bursts.stop();
    const removed = await this.ops.del(vip);
    this.mayHold = false;
    const wasHeld = this.isHeld;
    this.setHeld(false);
    this.lastAbsentAt = now;
    if (!removed) return { summary: `not holding ${vip.cidr}: ${decision.reason}`, didChange: false };
    this.counters.releases++;
    const verb = wasHeld ? 'released' : 'removed a stale';
    return { summary: `${verb} ${vip.cidr} from ${iface}: ${decision.reason}`, didChange: true };
  }

  private setHeld(isHeld: boolean, revision: number | null = null): void {
    if (isHeld && !this.isHeld) this.heldSince = this.ctx.now();
    if (!isHeld) {
      this.heldSince = null;
      this.bursts.needsAnnounce = false;
      this.bursts.cancelRepeat();
      this.wasUp = null;
    }
    this.isHeld = isHeld;
    this.heldRevision = isHeld ? revision : null;
  }

  /** Last resort on `process.exit` without `close()`: only synchronous work is possible here. */
  private releaseSync(): void {
    if (this.isClosed || !this.mayHold) return;
    const { ip_command: ip, address, interface: iface } = this.config;
    (this.deps.releaseSync ?? defaultReleaseSync)({ address, iface, ip });
  }

  /** The exit hook, for tests of the exit path (normally only `process.on('exit')` calls it). */
  exitNow(): void {
    this.releaseSync();
  }
}

export const vipTarget = defineTarget({
  key: 'vip',
  schema: vipConfigSchema,
  create(config: VipConfig, ctx: TargetCreateContext): Target {
    return new VipTarget(config, vipScope(config, ctx.clusters), ctx);
  },
});
