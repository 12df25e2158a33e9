import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Stack } from '../src/stack.js';

describe('Stack', () => {
  it('pops what was pushed last', () => {
    const stack = new Stack<number>();
    stack.push(1);
    stack.push(2);
    assert.strictEqual(stack.pop(), 2);
    assert.strictEqual(stack.size, 1);
  });

  it('peeks without removing', () => {
    const stack = new Stack<string>();
    assert.strictEqual(stack.peek(), undefined);
    stack.push('a');
    assert.strictEqual(stack.peek(), 'a');
    assert.strictEqual(stack.size, 1);
  });

  it('throws when popping an empty stack', () => {
    assert.throws(() => new Stack<number>().pop(), Error);
  });
});
