import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { camsFromConvMap, convCam, finishCam, parseCamMethod } from '../lib/explain/cams';
import { gradCam } from '../lib/explain/gradcam';
import { createRandom } from '../lib/core/random';

before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

// The tiny classifier of gradcam.test.ts: 2x2 conv map with 3 channels, mean-pool, Dense(2) softmax.
const activations = [
  [
    [0.5, 1.0, -0.2],
    [0.1, 0.3, 0.8],
  ],
  [
    [1.2, -0.4, 0.6],
    [0.0, 0.9, 0.2],
  ],
];
const kernel = [
  [0.7, -0.3],
  [-0.5, 0.4],
  [0.2, 0.9],
];
const bias = [0.1, -0.2];
const cells = activations.flat();

function makeHead(): tf.LayersModel {
  const head = tf.sequential({ layers: [tf.layers.dense({ units: 2, activation: 'softmax', inputShape: [3] })] });
  head.setWeights([tf.tensor2d(kernel), tf.tensor1d(bias)]);
  return head;
}

function probabilitiesOf(map: number[][]): number[] {
  const pooled = [0, 1, 2].map((k) => map.reduce((sum, cell) => sum + cell[k], 0) / map.length);
  const logits = [0, 1].map((j) => bias[j] + pooled.reduce((sum, p, k) => sum + p * kernel[k][j], 0));
  const exps = logits.map((z) => Math.exp(z - Math.max(...logits)));
  return exps.map((e) => e / (exps[0] + exps[1]));
}

/** d s_c / d A_ijk: the same at each of the 4 positions (global average pooling). */
function positionGradients(classIndex: number): number[] {
  const p = probabilitiesOf(cells);
  return [0, 1, 2].map(
    (k) => (p[classIndex] * (kernel[k][classIndex] - (p[0] * kernel[k][0] + p[1] * kernel[k][1]))) / 4,
  );
}

function closeTo(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++)
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
}

describe('CAM methods behind one interface', () => {
  let head: tf.LayersModel;
  let convMap: tf.Tensor4D;
  before(() => {
    head = makeHead();
    convMap = tf.tensor4d([activations]);
  });
  after(() => {
    head.dispose();
    convMap.dispose();
  });

  it("gives exactly the article's gradCam for 'gradcam' (tiny head and a real-sized random map)", () => {
    for (const classIndex of [0, 1]) {
      const expected = gradCam(convMap, head, classIndex, 16).heatmap;
      assert.deepEqual(convCam('gradcam', convMap, head, classIndex, 16).heatmap, expected);
    }
    const random = createRandom(7);
    const big = tf.tensor4d(
      Float32Array.from({ length: 7 * 7 * 64 }, () => random() * 2),
      [1, 7, 7, 64],
    );
    const bigHead = tf.sequential({
      layers: [
        tf.layers.dense({
          units: 8,
          activation: 'relu',
          inputShape: [64],
          kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
        }),
        tf.layers.dense({
          units: 2,
          activation: 'softmax',
          kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }),
        }),
      ],
    });
    assert.deepEqual(convCam('gradcam', big, bigHead, 0).heatmap, gradCam(big, bigHead, 0).heatmap);
    big.dispose();
    bigHead.dispose();
  });

  for (const classIndex of [0, 1]) {
    it(`HiResCAM and Grad-CAM++ match hand-computed maps for class ${classIndex}`, () => {
      const g = positionGradients(classIndex);
      const hires = cells.map((cell) => cell.reduce((sum, a, k) => sum + g[k] * a, 0));
      const activationSums = [0, 1, 2].map((k) => cells.reduce((sum, cell) => sum + cell[k], 0));
      const weights = g.map((gk, k) => {
        const alpha = (gk * gk) / (2 * gk * gk + activationSums[k] * gk ** 3 + 1e-7);
        return 4 * alpha * Math.max(gk, 0);
      });
      const plusPlus = cells.map((cell) => cell.reduce((sum, a, k) => sum + weights[k] * a, 0));
      const cams = camsFromConvMap(convMap, head, classIndex, ['hirescam', 'gradcam++'], 2);
      closeTo(cams.raw.hirescam!, hires, 1e-6, 'HiResCAM raw');
      closeTo(cams.raw['gradcam++']!, plusPlus, 1e-5, 'Grad-CAM++ raw');
      closeTo(cams.heatmaps.hirescam!, finishCam(Float32Array.from(hires), 2, 2, 2), 1e-5, 'HiResCAM heatmap');
    });
  }

  it('Eigen-CAM is the first principal component of the positions, sign following the activation', () => {
    // Rank one after centring: A_i = c + u_i v, so the projection is proportional to u_i - mean(u).
    const u = [2, -1, 0.5, 3];
    const v = [1, 2, 0.5];
    const c = [0.3, 0.1, 0.2];
    const map = tf.tensor4d(
      u.flatMap((ui) => v.map((vk, k) => c[k] + ui * vk)),
      [1, 2, 2, 3],
    );
    const meanU = u.reduce((s, x) => s + x, 0) / u.length;
    const cams = camsFromConvMap(map, head, 0, ['eigencam'], 2);
    const raw = cams.raw.eigencam!;
    const scale = raw[0] / (u[0] - meanU);
    assert.ok(scale > 0, 'positive sign: sum(v) > 0, so larger u means more activation');
    closeTo(
      raw,
      u.map((ui) => (ui - meanU) * scale),
      1e-5,
      'Eigen-CAM raw',
    );
    // Class-agnostic: the same map for both classes.
    assert.deepEqual(camsFromConvMap(map, head, 1, ['eigencam'], 2).raw.eigencam, raw);
    map.dispose();
  });

  it('leaks no tensors and rejects unknown methods with the list', () => {
    const before = tf.memory().numTensors;
    camsFromConvMap(convMap, head, 0);
    assert.equal(tf.memory().numTensors, before);
    assert.throws(
      () => parseCamMethod('scorecam'),
      /unknown CAM method "scorecam"; choose one of gradcam, gradcam\+\+, hirescam, eigencam, occlusion/,
    );
    assert.equal(parseCamMethod('GradCAM++'), 'gradcam++');
  });
});
