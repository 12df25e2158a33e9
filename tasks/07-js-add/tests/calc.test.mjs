import test from 'node:test';
import assert from 'node:assert/strict';
import { add } from '../calc.mjs';

test('adds small numbers', () => {
  assert.strictEqual(add(2, 3), 5);
});

test('adds a negative', () => {
  assert.strictEqual(add(-1, 1), 0);
});
