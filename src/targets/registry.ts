import type { z } from 'zod';
import type { Target, TargetContext } from './types.js';

export interface TargetCreateContext extends TargetContext {
  /** Directory of the router config file: relative paths in target configs resolve against it. */
  readonly configDir: string;
  /** Cluster scopes the router follows (`['*']` = every scope under the namespace). */
  readonly clusters: readonly string[];
}

/**
 * How a routing layer plugs in: its config schema (the value under `targets.<key>` in router.yml,
 * strict: unknown keys are errors) and a constructor. A new layer = one module + one line in
 * `TARGET_FACTORIES` (src/targets/index.ts) + one template.
 */
export interface TargetFactory<K extends string = string, C = unknown> {
  /** Key under `targets:` in router.yml. */
  readonly key: K;
  readonly schema: z.ZodType<C, z.ZodTypeDef, unknown>;
  create(config: C, ctx: TargetCreateContext): Target;
}

export function defineTarget<K extends string, C>(factory: TargetFactory<K, C>): TargetFactory<K, C> {
  return factory;
}
