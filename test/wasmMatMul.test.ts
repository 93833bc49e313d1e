import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { transposeBeforeWasmMatMul } from '../lib/core/wasmMatMul';
import { tfReady } from './helpers';

describe('wasm BatchMatMul: transposed operands are transposed first', () => {
  before(async function () {
    await tfReady();
    if (tf.getBackend() !== 'wasm') this.skip();
  });

  it('is installed by initBackend on wasm, once', () => {
    assert.equal(transposeBeforeWasmMatMul(), true);
    assert.equal(transposeBeforeWasmMatMul(), true);
  });

  it('gives the products of explicitly transposed operands, 2-D and batched, without leaking', () => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const a = tf.tensor2d([
        [1, 2, 3],
        [4, 5, 6],
      ]); // 2x3
      const b = tf.tensor2d([
        [1, 0],
        [0, 1],
        [1, 1],
      ]); // 3x2
      assert.deepEqual(tf.matMul(a, b).arraySync(), [
        [4, 5],
        [10, 11],
      ]);
      assert.deepEqual(tf.matMul(b, a, true, true).arraySync(), [
        [4, 10],
        [5, 11],
      ]); // (a.b)^T
      assert.deepEqual(tf.matMul(a, a, false, true).arraySync(), [
        [14, 32],
        [32, 77],
      ]);
      assert.deepEqual(tf.matMul(a, a, true, false).arraySync(), [
        [17, 22, 27],
        [22, 29, 36],
        [27, 36, 45],
      ]);
      const batch = tf.randomNormal([3, 4, 5], 0, 1, 'float32', 7);
      const other = tf.randomNormal([3, 4, 6], 0, 1, 'float32', 8);
      const expected = tf.matMul(tf.transpose(batch, [0, 2, 1]), other);
      const actual = tf.matMul(batch, other, true, false);
      assert.ok(tf.max(tf.abs(tf.sub(expected, actual))).dataSync()[0] < 1e-5);
    });
    assert.equal(tf.memory().numTensors, before);
  });
});
