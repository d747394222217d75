import { haproxyTarget } from './haproxy/index.js';
import { pgbouncerTarget } from './pgbouncer/index.js';
import { pgcatTarget } from './pgcat/index.js';
import type { TargetFactory } from './registry.js';
import { vipTarget } from './vip/index.js';

/** Every routing layer the router knows, by its key under `targets:` in router.yml. */
export const TARGET_FACTORIES = [haproxyTarget, pgbouncerTarget, pgcatTarget, vipTarget] as const;

/** The parsed `targets:` section of router.yml: each configured layer's own config type. */
export type TargetsConfig = {
  [F in (typeof TARGET_FACTORIES)[number] as F['key']]?: F extends TargetFactory<string, infer C> ? C : never;
};

export type { Target, RouteSnapshot, ApplyResult, TargetContext, DcsHealth } from './types.js';
export type { TargetFactory, TargetCreateContext } from './registry.js';
