// Asserts that a call fails with Whetstone's user-facing error (WhetError) and a message matching a pattern.
import assert from 'node:assert/strict';
import { WhetError } from '../../src/errors.ts';

export function throwsWhet(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof WhetError, `expected a WhetError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}
