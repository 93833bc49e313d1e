/**
 * 2-D convolution written with ops whose gradients every tfjs backend has (pad, slice, concat,
 * reshape, matMul), so the unfrozen ResNet50 block trains on wasm too: tfjs-backend-wasm 4.22 has
 * no Conv2DBackpropFilter / Conv2DBackpropInput kernels, hence no gradient for tf.conv2d.
 *
 * im2col: a k x k convolution is one matrix product of the k*k shifted copies of the input,
 * side by side on the channel axis ([N*outH*outW, k*k*C]), with the kernel reshaped to [k*k*C, F].
 * A 1x1 stride-1 convolution is the product alone. Strides subsample by reshaping, not by strided
 * slices (StridedSlice has no gradient in tfjs).
 */
import * as tf from '@tensorflow/tfjs';

export type ConvPadding = 'same' | 'valid';

/** Output size and leading padding of one spatial axis, as TensorFlow computes them. */
export function convGeometry(
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

/** Rows and columns 0, s, 2s, ... of x: [N, H, W, C] -> [N, ceil(H/s), ceil(W/s), C]. */
function subsample(x: tf.Tensor4D, stride: number): tf.Tensor4D {
  if (stride === 1) return x;
  const [n, h, w, c] = x.shape;
  const padH = (stride - (h % stride)) % stride;
  const padW = (stride - (w % stride)) % stride;
  const padded =
    padH || padW
      ? tf.pad(x, [
          [0, 0],
          [0, padH],
          [0, padW],
          [0, 0],
        ])
      : x;
  const outH = (h + padH) / stride;
  const outW = (w + padW) / stride;
  const grouped = tf.reshape(padded, [n, outH, stride, outW, stride * c]);
  // Of each stride x stride cell, the top-left value (the first c of the first row).
  return tf.reshape(tf.slice(grouped, [0, 0, 0, 0, 0], [n, outH, 1, outW, c]), [n, outH, outW, c]);
}

/**
 * Same result as tf.conv2d(x, kernel, stride, padding) (NHWC, kernel [kh, kw, C, F], no dilation),
 * differentiable on every backend. Call inside tf.tidy: the intermediates are not disposed here.
 */
export function conv2dByMatMul(x: tf.Tensor4D, kernel: tf.Tensor4D, stride: number, padding: ConvPadding): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const [kh, kw, kernelChannels, filters] = kernel.shape;
  if (kernelChannels !== c)
    throw new Error(`conv2dByMatMul: input has ${c} channels, kernel expects ${kernelChannels}`);
  if (!Number.isInteger(stride) || stride < 1) throw new Error(`conv2dByMatMul: stride must be >= 1, got ${stride}`);
  const rows = convGeometry(h, kh, stride, padding);
  const columns = convGeometry(w, kw, stride, padding);
  if (rows.output < 1 || columns.output < 1)
    throw new Error(`conv2dByMatMul: ${kh}x${kw} kernel larger than ${h}x${w} input`);
  const padded =
    rows.before || rows.after || columns.before || columns.after
      ? tf.pad(x, [
          [0, 0],
          [rows.before, rows.after],
          [columns.before, columns.after],
          [0, 0],
        ])
      : x;
  const spanH = (rows.output - 1) * stride + 1;
  const spanW = (columns.output - 1) * stride + 1;
  const shifted: tf.Tensor4D[] = [];
  for (let dy = 0; dy < kh; dy++) {
    for (let dx = 0; dx < kw; dx++) {
      const whole = dy === 0 && dx === 0 && spanH === padded.shape[1] && spanW === padded.shape[2];
      const window = whole ? padded : tf.slice(padded, [0, dy, dx, 0], [n, spanH, spanW, c]);
      shifted.push(subsample(window, stride));
    }
  }
  // Channel order (dy, dx, c) matches the kernel's [kh, kw, C, F] memory order.
  const patches = shifted.length === 1 ? shifted[0] : tf.concat(shifted, 3);
  const product = tf.matMul(
    tf.reshape(patches, [n * rows.output * columns.output, kh * kw * c]),
    tf.reshape(kernel, [kh * kw * c, filters]),
  );
  return tf.reshape(product, [n, rows.output, columns.output, filters]);
}
