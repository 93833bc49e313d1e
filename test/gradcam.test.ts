import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { jetColormap } from '../lib/explain/colormap';
import {
  gradCam,
  gradCamMap,
  heatmapToRgb,
  overlayHeatmap,
  reluAndNormalize,
  resizeBilinear,
} from '../lib/explain/gradcam';

before(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

// A 2x2 conv map with 3 channels, row-major [y][x][channel].
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

function makeHead(): tf.LayersModel {
  const head = tf.sequential({ layers: [tf.layers.dense({ units: 2, activation: 'softmax', inputShape: [3] })] });
  head.setWeights([tf.tensor2d(kernel), tf.tensor1d(bias)]);
  return head;
}

/** The same classifier in double precision: mean-pool, dense, softmax; returns the class probabilities. */
function forward(map: number[][][]): number[] {
  const pooled = [0, 1, 2].map((k) => (map[0][0][k] + map[0][1][k] + map[1][0][k] + map[1][1][k]) / 4);
  const logits = [0, 1].map((j) => bias[j] + pooled.reduce((sum, p, k) => sum + p * kernel[k][j], 0));
  const top = Math.max(...logits);
  const exps = logits.map((z) => Math.exp(z - top));
  const total = exps[0] + exps[1];
  return exps.map((e) => e / total);
}

function closeTo(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

describe('gradCamMap', () => {
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

  for (const classIndex of [0, 1]) {
    it(`gives the hand-derived channel weights and cam for class ${classIndex}`, () => {
      const probabilities = forward(activations);
      // d s_c / d pooled_k = s_c * (W[k][c] - sum_j s_j W[k][j]); each of the 4 positions gets 1/4 of it,
      // and the spatial mean of those gradients is again that 1/4.
      const expectedWeights = [0, 1, 2].map(
        (k) =>
          (probabilities[classIndex] *
            (kernel[k][classIndex] - (probabilities[0] * kernel[k][0] + probabilities[1] * kernel[k][1]))) /
          4,
      );
      const expectedCam: number[] = [];
      for (const row of activations)
        for (const cell of row) expectedCam.push(1 + cell.reduce((sum, a, k) => sum + expectedWeights[k] * a, 0));

      const map = gradCamMap(convMap, head, classIndex);
      assert.equal(map.height, 2);
      assert.equal(map.width, 2);
      closeTo(map.probabilities, probabilities, 1e-6, 'probabilities');
      closeTo(map.channelWeights, expectedWeights, 1e-6, 'channel weights');
      closeTo(map.cam, expectedCam, 1e-6, 'cam');
    });

    it(`matches finite differences of the class-${classIndex} score`, () => {
      // Central differences on the double-precision model: spatial mean of d score / d A.
      const step = 1e-5;
      const finiteWeights = [0, 1, 2].map((k) => {
        let total = 0;
        for (let y = 0; y < 2; y++) {
          for (let x = 0; x < 2; x++) {
            const plus = activations.map((r) => r.map((c) => c.slice()));
            const minus = activations.map((r) => r.map((c) => c.slice()));
            plus[y][x][k] += step;
            minus[y][x][k] -= step;
            total += (forward(plus)[classIndex] - forward(minus)[classIndex]) / (2 * step);
          }
        }
        return total / 4;
      });
      closeTo(
        gradCamMap(convMap, head, classIndex).channelWeights,
        finiteWeights,
        1e-6,
        'weights vs finite differences',
      );
    });
  }

  it('weights of the two classes are opposite for a two-way softmax', () => {
    const covid = gradCamMap(convMap, head, 0).channelWeights;
    const normal = gradCamMap(convMap, head, 1).channelWeights;
    closeTo(
      covid,
      Array.from(normal, (w) => -w),
      1e-7,
      'opposite weights',
    );
  });

  it('runs the head in inference mode (dropout off)', () => {
    const withDropout = tf.sequential({
      layers: [tf.layers.dropout({ rate: 0.9, inputShape: [3] }), tf.layers.dense({ units: 2, activation: 'softmax' })],
    });
    withDropout.layers[1].setWeights([tf.tensor2d(kernel), tf.tensor1d(bias)]);
    const first = gradCamMap(convMap, withDropout, 0);
    const plain = gradCamMap(convMap, head, 0);
    closeTo(first.channelWeights, plain.channelWeights, 1e-7, 'weights with dropout in the head');
    withDropout.dispose();
  });

  it('rejects bad input with clear messages', () => {
    assert.throws(() => gradCamMap(convMap, head, 2), /class index 2 is out of range: the head has 2 outputs/);
    assert.throws(() => gradCamMap(convMap, head, 0.5), /class index 0.5/);
    const batch = tf.zeros([2, 2, 2, 3]) as tf.Tensor4D;
    assert.throws(() => gradCamMap(batch, head, 0), /one image at a time/);
    batch.dispose();
    const wrongChannels = tf.zeros([1, 2, 2, 5]) as tf.Tensor4D;
    assert.throws(
      () => gradCamMap(wrongChannels, head, 0),
      /expects 3 pooled features but the conv map has 5 channels/,
    );
    wrongChannels.dispose();
    const flat = tf.zeros([2, 3]);
    assert.throws(() => gradCamMap(flat as unknown as tf.Tensor4D, head, 0), /rank-4/);
    flat.dispose();
  });

  it('leaves no tensors behind, including after errors', () => {
    gradCam(convMap, head, 0, 8);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      gradCamMap(convMap, head, i % 2);
      gradCam(convMap, head, 1, 16);
      assert.throws(() => gradCamMap(convMap, head, 7));
    }
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('gradCam', () => {
  it('resizes, rectifies and min-max normalises the cam', () => {
    const head = makeHead();
    const convMap = tf.tensor4d([activations]);
    const map = gradCamMap(convMap, head, 0);
    // outputSize 2 = source size: cv2.resize is the identity, so the heatmap is the normalised cam.
    const same = gradCam(convMap, head, 0, 2);
    const rectified = Array.from(map.cam, (c) => Math.max(c, 0));
    const low = Math.min(...rectified);
    const high = Math.max(...rectified);
    closeTo(
      same.heatmap,
      rectified.map((c) => (c - low) / (high - low)),
      1e-6,
      'heatmap',
    );
    assert.deepEqual(same.probabilities, map.probabilities);

    const large = gradCam(convMap, head, 0, 224);
    assert.equal(large.heatmap.length, 224 * 224);
    assert.equal(Math.min(...large.heatmap), 0);
    assert.equal(Math.max(...large.heatmap), 1);
    assert.throws(() => gradCam(convMap, head, 0, 0), /output size must be a positive integer/);
    head.dispose();
    convMap.dispose();
  });
});

describe('resizeBilinear (cv2.resize INTER_LINEAR)', () => {
  it('uses half-pixel centres and replicates the border (2x2 -> 4x4 by hand)', () => {
    // Target pixel centres map to source x = -0.25, 0.25, 0.75, 1.25: the outer ones clamp to the edge.
    const resized = resizeBilinear(Float32Array.from([0, 1, 2, 3]), 2, 2, 4, 4);
    assert.deepEqual(
      Array.from(resized),
      [0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3],
    );
  });

  it('matches OpenCV 4.6 bit for bit, including its border-row rounding', () => {
    // cv2.resize(np.array([[v, 1], [2, 3]], np.float32), (2, 8)) with v = float32(-3.9094717502593994):
    // OpenCV keeps the fractional row weight outside the map, so row 0 is v*0.375 + v*0.625, one ulp off v.
    const v = -3.9094717502593994;
    const expected = [
      -3.9094719886779785, 1.0, -3.9094717502593994, 1.0, -3.170787811279297, 1.25, -1.6934199333190918, 1.75,
      -0.21605193614959717, 2.25, 1.2613160610198975, 2.75, 2.0, 3.0, 2.0, 3.0,
    ];
    assert.deepEqual(Array.from(resizeBilinear(Float32Array.from([v, 1, 2, 3]), 2, 2, 8, 2)), expected);
  });

  it('handles non-integer scales (cv2.resize(np.arange(15, dtype=np.float32).reshape(3, 5), (4, 7)))', () => {
    // Printed by OpenCV 4.6: 7 rows of 4 values.
    const expected = [
      0.125, 1.375, 2.625, 3.875, 0.8392857313156128, 2.0892858505249023, 3.3392858505249023, 4.589285850524902,
      2.982142925262451, 4.232142925262451, 5.482142925262451, 6.732142925262451, 5.125, 6.375, 7.625, 8.875,
      7.267857074737549, 8.517857551574707, 9.76785659790039, 11.017857551574707, 9.410714149475098, 10.660713195800781,
      11.910714149475098, 13.160714149475098, 10.125, 11.375, 12.625, 13.875,
    ];
    const source = Float32Array.from({ length: 15 }, (_, i) => i);
    assert.deepEqual(Array.from(resizeBilinear(source, 3, 5, 7, 4)), expected);
  });

  it('rejects sizes that do not fit', () => {
    assert.throws(() => resizeBilinear(new Float32Array(3), 2, 2, 4, 4), /3 values do not make a 2x2 map/);
    assert.throws(() => resizeBilinear(new Float32Array(4), 2, 2, 0, 4), /positive integers/);
  });
});

describe('reluAndNormalize', () => {
  it('clips negatives then scales to [0, 1]', () => {
    assert.deepEqual(
      Array.from(reluAndNormalize(Float32Array.from([-2, 0.5, 1, 2.5]))),
      [0, 0.2, 0.4, 1].map(Math.fround),
    );
  });

  it('returns zeros for a flat map instead of dividing by zero', () => {
    assert.deepEqual(Array.from(reluAndNormalize(Float32Array.from([-1, -3, -2]))), [0, 0, 0]);
    assert.deepEqual(Array.from(reluAndNormalize(Float32Array.from([2, 2]))), [0, 0]);
  });
});

describe('heatmapToRgb and overlayHeatmap', () => {
  const jet = jetColormap();
  const colour = (level: number): number[] => Array.from(jet.slice(level * 3, level * 3 + 3));

  it('truncates 255 * heatmap like np.uint8 before looking up JET', () => {
    const rgb = heatmapToRgb(Float32Array.from([0, 0.5, 0.999, 1]));
    // 127.5 -> 127, 254.745 -> 254.
    assert.deepEqual(Array.from(rgb), [...colour(0), ...colour(127), ...colour(254), ...colour(255)]);
  });

  it('adds half the image to the colour, rounding half to even and saturating like cv2.addWeighted', () => {
    // 1x1 images: heatmap 0 is JET (0, 0, 128); heatmap 1 is (128, 0, 0).
    assert.deepEqual(Array.from(overlayHeatmap(Uint8Array.from([1, 3, 5]), Float32Array.from([0]), 1)), [0, 2, 130]);
    assert.deepEqual(
      Array.from(overlayHeatmap(Uint8Array.from([255, 255, 255]), Float32Array.from([1]), 1)),
      [255, 128, 128],
    );
  });

  it('checks the sizes', () => {
    assert.throws(
      () => overlayHeatmap(new Uint8Array(12), new Float32Array(3), 2),
      /heatmap has 3 values, expected 2x2/,
    );
    assert.throws(() => overlayHeatmap(new Uint8Array(4), new Float32Array(4), 2), /image has 4 bytes, expected 2x2x3/);
  });
});
