import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import { conv2dByMatMul, ConvPadding } from '../lib/finetune/convMatMul';
import { tfReady } from './helpers';

/** Runs fn on the cpu backend (reference kernels, including conv2d's gradients), then switches back. */
async function onBackend<T>(backend: string, fn: () => T): Promise<T> {
  const previous = tf.getBackend();
  await tf.setBackend(backend);
  try {
    return fn();
  } finally {
    await tf.setBackend(previous);
  }
}

function seeded(shape: number[], seed: number): Float32Array {
  return tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', seed).dataSync() as Float32Array);
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return worst;
}

interface Case {
  input: [number, number, number, number];
  kernel: [number, number, number, number];
  stride: number;
  padding: ConvPadding;
}

const cases: Case[] = [
  { input: [2, 7, 7, 16], kernel: [1, 1, 16, 8], stride: 1, padding: 'valid' },
  { input: [2, 7, 7, 8], kernel: [3, 3, 8, 6], stride: 1, padding: 'same' },
  { input: [1, 8, 6, 5], kernel: [3, 3, 5, 4], stride: 1, padding: 'valid' },
  { input: [2, 14, 14, 8], kernel: [1, 1, 8, 12], stride: 2, padding: 'valid' },
  { input: [2, 7, 9, 4], kernel: [3, 3, 4, 3], stride: 2, padding: 'same' },
  { input: [1, 9, 7, 3], kernel: [3, 3, 3, 2], stride: 2, padding: 'valid' },
  { input: [1, 6, 6, 4], kernel: [1, 1, 4, 4], stride: 2, padding: 'same' },
];

/** Output, d(loss)/d(input) and d(loss)/d(kernel) for loss = sum(conv * weights). */
type Convolution = (x: tf.Tensor4D, kernel: tf.Tensor4D, stride: number, padding: ConvPadding) => tf.Tensor4D;

function outputAndGradients(conv: Convolution, c: Case) {
  return tf.tidy(() => {
    const x = tf.tensor4d(seeded(c.input, 1), c.input);
    const kernel = tf.tensor4d(seeded(c.kernel, 2), c.kernel);
    const output = conv(x, kernel, c.stride, c.padding);
    const mix = tf.randomNormal(output.shape, 0, 1, 'float32', 3);
    // The input is an intermediate (as in the block), which tfjs frees unless the op keeps it.
    const [dx, dk] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(conv(tf.sin(a) as tf.Tensor4D, tf.mul(b, 1) as tf.Tensor4D, c.stride, c.padding), mix)),
    )([x, kernel]);
    return [output, dx, dk].map((t) => t.dataSync() as Float32Array);
  });
}

describe('conv2dByMatMul: convolution with gradients on every backend', () => {
  before(tfReady);

  for (const c of cases) {
    const label = `${c.kernel[0]}x${c.kernel[1]} stride ${c.stride} ${c.padding} on ${c.input.join('x')}`;
    it(`matches tf.conv2d and its gradients on the cpu backend: ${label}`, async () => {
      const reference = await onBackend('cpu', () => outputAndGradients(tf.conv2d, c));
      const ours = await onBackend('cpu', () => outputAndGradients(conv2dByMatMul, c));
      ['output', 'd/dinput', 'd/dkernel'].forEach((what, index) =>
        assert.ok(maxDifference(ours[index], reference[index]) < 1e-5, `${what} differs`),
      );
      // And on the backend in use (wasm here, which has no conv2d gradient of its own).
      const here = outputAndGradients(conv2dByMatMul, c);
      ['output', 'd/dinput', 'd/dkernel'].forEach((what, index) =>
        assert.ok(maxDifference(here[index], reference[index]) < 1e-4, `${what} on ${tf.getBackend()} differs`),
      );
    });
  }

  it('matches a finite-difference gradient (3x3 same, stride 2)', async () => {
    await onBackend('cpu', () => {
      const c = cases[4];
      const x = seeded(c.input, 5);
      const kernel = tf.tensor4d(seeded(c.kernel, 6), c.kernel);
      const loss = (values: Float32Array) =>
        tf.tidy(
          () =>
            tf.sum(tf.square(conv2dByMatMul(tf.tensor4d(values, c.input), kernel, c.stride, c.padding))).dataSync()[0],
        );
      const analytic = tf.tidy(
        () =>
          tf
            .grad((a: tf.Tensor) => tf.sum(tf.square(conv2dByMatMul(a as tf.Tensor4D, kernel, c.stride, c.padding))))(
              tf.tensor4d(x, c.input),
            )
            .dataSync() as Float32Array,
      );
      const step = 1e-2;
      for (const index of [0, 7, 33, x.length - 1]) {
        const up = Float32Array.from(x);
        const down = Float32Array.from(x);
        up[index] += step;
        down[index] -= step;
        const numeric = (loss(up) - loss(down)) / (2 * step);
        assert.ok(
          Math.abs(numeric - analytic[index]) < 2e-2 * (1 + Math.abs(numeric)),
          `index ${index}: ${numeric} vs ${analytic[index]}`,
        );
      }
      kernel.dispose();
    });
  });

  for (const c of [cases[0], cases[1], cases[4]]) {
    const label = `${c.kernel[0]}x${c.kernel[1]} stride ${c.stride}`;
    it(`with inputGradient false: the same output and kernel gradient, a zero input gradient (${label})`, () => {
      const full = outputAndGradients(conv2dByMatMul, c);
      const constantInput = outputAndGradients(
        (x, kernel, stride, padding) => conv2dByMatMul(x, kernel, stride, padding, { inputGradient: false }),
        c,
      );
      assert.ok(maxDifference(constantInput[0], full[0]) === 0, 'output differs');
      assert.ok(maxDifference(constantInput[2], full[2]) === 0, 'd/dkernel differs');
      assert.ok(
        constantInput[1].every((value) => value === 0),
        'd/dinput is not zero',
      );
      assert.ok(full[1].some((value) => value !== 0));
    });
  }

  it('leaks no tensor', () => {
    const before = tf.memory().numTensors;
    outputAndGradients(conv2dByMatMul, cases[1]);
    assert.equal(tf.memory().numTensors, before);
  });
});
