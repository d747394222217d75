import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide } from '../../../agent/ha/decide.js';
import type { HaDecision, HaSnapshot } from '../../../agent/ha/types.js';

/** One HA cycle: the snapshot, Patroni's sentence for it, and the action kinds in order. */
export interface DecideCase {
  name: string;
  s: HaSnapshot;
  sentence: string | RegExp;
  actions: string[];
}

/** A test per case: `decide` gives the sentence and the actions; `also` checks more of the decision. */
export function testDecideCases(cases: readonly DecideCase[], also?: (d: HaDecision) => void): void {
  for (const c of cases) {
    test(c.name, () => {
      const d = decide(c.s);
      if (typeof c.sentence === 'string') assert.equal(d.sentence, c.sentence);
      else assert.match(d.sentence, c.sentence);
      assert.deepEqual(
        d.actions.map((a) => a.kind),
        c.actions,
      );
      also?.(d);
    });
  }
}
