/**
 * A 2-D convolution whose gradients exist on every tfjs backend, so the unfrozen ResNet50 block
 * trains on wasm too: tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter kernel, hence no gradient
 * for tf.conv2d's kernel. A custom gradient built only from ops every backend has:
 * - 1x1 stride-1 convolutions (two of the three in a bottleneck unit) are plain matrix products,
 *   forward and backward, and stay on the backend: x [N*H*W, C] . kernel [C, F];
 *   d/dkernel = x^T . dy, d/dinput = dy . kernel^T;
 * - other convolutions (the 3x3 one, strided projections): im2col patches [N*outH*outW, kh*kw*C]
 *   times the kernel [kh*kw*C, F]; d/dkernel = patches^T . dy; d/dinput = dy . kernel^T, scattered
 *   back onto the input by col2im (im2col's adjoint);
 * - an input that needs no gradient (the cached block input) gets zeros instead of the product.
 * im2col, col2im and the transposes run in JavaScript on typed arrays: the wasm backend's slice,
 * concat and transpose kernels were slower than the products themselves. Why matMul everywhere:
 * on wasm a training step of conv5_block3 + head (batch 32) took about 1.5-1.9 CPU-seconds this
 * way against 1.9-2.6 with the backend's conv2d for the forward pass and the 3x3 input gradient
 * (2026-12-02, scripts/bench.ts; CPU time, as the machine was shared).
 */
import * as tf from '@tensorflow/tfjs';

export type ConvPadding = 'same' | 'valid';

/** Output size and leading padding of one spatial axis, as TensorFlow computes them. */
function convGeometry(
  size: number,
  kernel: number,
  stride: number,
  padding: ConvPadding,
): { output: number; before: number; after: number } {
  if (padding === 'valid') return { output: Math.floor((size - kernel) / stride) + 1, before: 0, after: 0 };
  const output = Math.ceil(size / stride);
  const total = Math.max((output - 1) * stride + kernel - size, 0);
  return { output, before: Math.floor(total / 2), after: total - Math.floor(total / 2) };
}

interface Geometry {
  n: number;
  h: number;
  w: number;
  c: number;
  kh: number;
  kw: number;
  stride: number;
  rows: { output: number; before: number };
  columns: { output: number; before: number };
}

/** x [n, h, w, c] -> patches [n*oh*ow, kh*kw*c], channel order (dy, dx, c) = the kernel's memory order. */
function im2col(x: Float32Array, g: Geometry): Float32Array {
  const { n, h, w, c, kh, kw, stride, rows, columns } = g;
  const width = kh * kw * c;
  const patches = new Float32Array(n * rows.output * columns.output * width);
  let row = 0;
  for (let image = 0; image < n; image++) {
    for (let oy = 0; oy < rows.output; oy++) {
      for (let ox = 0; ox < columns.output; ox++, row++) {
        for (let dy = 0; dy < kh; dy++) {
          const y = oy * stride + dy - rows.before;
          if (y < 0 || y >= h) continue; // zero padding: the row stays 0
          for (let dx = 0; dx < kw; dx++) {
            const xx = ox * stride + dx - columns.before;
            if (xx < 0 || xx >= w) continue;
            const source = ((image * h + y) * w + xx) * c;
            patches.set(x.subarray(source, source + c), row * width + (dy * kw + dx) * c);
          }
        }
      }
    }
  }
  return patches;
}

/** The adjoint of im2col: sums each patch gradient back onto the input positions it came from. */
function col2im(patchGradient: Float32Array, g: Geometry): Float32Array {
  const { n, h, w, c, kh, kw, stride, rows, columns } = g;
  const width = kh * kw * c;
  const dx = new Float32Array(n * h * w * c);
  let row = 0;
  for (let image = 0; image < n; image++) {
    for (let oy = 0; oy < rows.output; oy++) {
      for (let ox = 0; ox < columns.output; ox++, row++) {
        for (let ky = 0; ky < kh; ky++) {
          const y = oy * stride + ky - rows.before;
          if (y < 0 || y >= h) continue;
          for (let kx = 0; kx < kw; kx++) {
            const xx = ox * stride + kx - columns.before;
            if (xx < 0 || xx >= w) continue;
            const target = ((image * h + y) * w + xx) * c;
            const source = row * width + (ky * kw + kx) * c;
            for (let channel = 0; channel < c; channel++) dx[target + channel] += patchGradient[source + channel];
          }
        }
      }
    }
  }
  return dx;
}

function transposed(values: Float32Array, rowCount: number, columnCount: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rowCount; r++) {
    const base = r * columnCount;
    for (let col = 0; col < columnCount; col++) out[col * rowCount + r] = values[base + col];
  }
  return out;
}

/**
 * Same result as tf.conv2d(x, kernel, stride, padding) (NHWC, kernel [kh, kw, C, F], no dilation),
 * differentiable on every backend: the forward pass and both gradients are matMuls, with im2col,
 * its adjoint and the transposes done in JavaScript on typed arrays (the wasm backend's
 * slice/concat/transpose kernels were the slow part: concatenating the nine 3x3 shifts of a
 * 32x7x7x512 batch took 1 s, more than the product itself). `inputGradient: false` for an input
 * that is a constant (the cached block input): zeros instead of dy . kernel^T.
 */
export function conv2dByMatMul(
  x: tf.Tensor4D,
  kernel: tf.Tensor4D,
  stride: number,
  padding: ConvPadding,
  options: { inputGradient?: boolean } = {},
): tf.Tensor4D {
  const inputGradient = options.inputGradient ?? true;
  const [n, h, w, c] = x.shape;
  const [kh, kw, kernelChannels, filters] = kernel.shape;
  if (kernelChannels !== c)
    throw new Error(`conv2dByMatMul: input has ${c} channels, kernel expects ${kernelChannels}`);
  if (!Number.isInteger(stride) || stride < 1) throw new Error(`conv2dByMatMul: stride must be >= 1, got ${stride}`);
  const rows = convGeometry(h, kh, stride, padding);
  const columns = convGeometry(w, kw, stride, padding);
  if (rows.output < 1 || columns.output < 1)
    throw new Error(`conv2dByMatMul: ${kh}x${kw} kernel larger than ${h}x${w} input`);
  const g: Geometry = { n, h, w, c, kh, kw, stride, rows, columns };
  const m = n * rows.output * columns.output;
  const width = kh * kw * c;
  const plain = kh === 1 && kw === 1 && stride === 1; // a 1x1 stride-1 convolution: the patches are x itself
  const convolve = tf.customGrad(((input: tf.Tensor4D, weights: tf.Tensor4D, save: tf.GradSaveFunc) => {
    // Intermediate inputs are freed after the forward pass unless saved for the backward one.
    save([input, weights]);
    if (plain) {
      // A 1x1 stride-1 convolution is one product: on wasm the matMul kernel beats conv2d here,
      // and forward and backward stay on the backend (no copies to JavaScript).
      const value = tf.reshape(tf.matMul(tf.reshape(input, [m, c]), tf.reshape(weights, [c, filters])), [
        n,
        h,
        w,
        filters,
      ]);
      const gradFunc = (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
        const [input, weights] = saved as [tf.Tensor4D, tf.Tensor4D];
        const dy2 = tf.reshape(dy, [m, filters]);
        const dWeights = tf.reshape(tf.matMul(tf.reshape(input, [m, c]), dy2, true, false), weights.shape);
        const dInput = inputGradient
          ? tf.reshape(tf.matMul(dy2, tf.reshape(weights, [c, filters]), false, true), input.shape)
          : tf.zeros(input.shape);
        return [dInput, dWeights] as tf.Tensor[];
      };
      return { value, gradFunc };
    }
    // Forward: im2col (JavaScript) and one product; the patches are kept for the kernel gradient.
    // On wasm this beats the backend's own conv2d (XNNPACK) for the 3x3 convolution of conv5.
    const patches = im2col(input.dataSync() as Float32Array, g);
    const value = tf.reshape(tf.matMul(tf.tensor2d(patches, [m, width]), tf.reshape(weights, [width, filters])), [
      n,
      rows.output,
      columns.output,
      filters,
    ]);
    const gradFunc = (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
      const [input, weights] = saved as [tf.Tensor4D, tf.Tensor4D];
      const dy2 = tf.reshape(dy, [m, filters]);
      // dL/dkernel = patches^T . dy (a plain product: the transpose is done here in JavaScript).
      const dWeights = tf.reshape(
        tf.matMul(tf.tensor2d(transposed(patches, m, width), [width, m]), dy2),
        weights.shape,
      );
      // dL/dx: dy . kernel^T gives each patch's gradient; col2im sums them back onto the input.
      const dInput = inputGradient
        ? tf.tensor4d(
            col2im(tf.matMul(dy2, tf.reshape(weights, [width, filters]), false, true).dataSync() as Float32Array, g),
            input.shape,
          )
        : tf.zeros(input.shape);
      return [dInput, dWeights] as tf.Tensor[];
    };
    return { value, gradFunc };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return convolve(x, kernel) as tf.Tensor4D;
}
