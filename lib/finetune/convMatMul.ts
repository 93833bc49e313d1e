/**
 * A 2-D convolution whose gradients exist on every tfjs backend, so the unfrozen ResNet50 block
 * trains on wasm too: tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter / Conv2DBackpropInput
 * kernels, hence no gradient for tf.conv2d. A custom gradient built only from ops every backend has:
 * - forward: the backend's own conv2d;
 * - d/dinput, stride 1: conv2d of dy with the kernel rotated 180 degrees, in/out channels swapped;
 *   larger strides: dy . kernel^T (one matMul), scattered back by col2im;
 * - d/dkernel: patches^T . dy, one matMul, with im2col patches [N*outH*outW, kh*kw*C].
 * im2col, col2im and the transposes run in JavaScript on typed arrays: the wasm backend's slice,
 * concat and transpose kernels were slower than the products themselves.
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

/** Kernel [kh, kw, C, F] -> [kh, kw, F, C] rotated 180 degrees in space (the input gradient's kernel). */
function flippedSwapped(kernel: Float32Array, kh: number, kw: number, c: number, f: number): Float32Array {
  const out = new Float32Array(kernel.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++) {
      const source = (y * kw + x) * c * f;
      const target = ((kh - 1 - y) * kw + (kw - 1 - x)) * f * c;
      for (let i = 0; i < c; i++) for (let o = 0; o < f; o++) out[target + o * c + i] = kernel[source + i * f + o];
    }
  return out;
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
 * differentiable on every backend: a custom gradient whose three products are plain matMuls, with
 * im2col, its adjoint and the transposes done in JavaScript on typed arrays (the wasm backend's
 * slice/concat/transpose kernels were the slow part: concatenating the nine 3x3 shifts of a
 * 32x7x7x512 batch took 1 s, more than the product itself).
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
  const g: Geometry = { n, h, w, c, kh, kw, stride, rows, columns };
  const m = n * rows.output * columns.output;
  const width = kh * kw * c;
  const plain = kh === 1 && kw === 1 && stride === 1; // a 1x1 stride-1 convolution: the patches are x itself
  const convolve = tf.customGrad(((input: tf.Tensor4D, weights: tf.Tensor4D, save: tf.GradSaveFunc) => {
    // Intermediate inputs are freed after the forward pass unless saved for the backward one.
    save([input, weights]);
    // Forward: the backend's own convolution (XNNPACK on wasm), every backend has it.
    const value = tf.conv2d(input, weights, stride, padding);
    const gradFunc = (dy: tf.Tensor4D, saved: tf.Tensor[]) => {
      const [input, weights] = saved as [tf.Tensor4D, tf.Tensor4D];
      const dy2 = tf.reshape(dy, [m, filters]);
      const inputValues = input.dataSync() as Float32Array;
      const patchValues = plain ? inputValues : im2col(inputValues, g);
      // dL/dkernel = patches^T . dy (a plain product: the transpose is done here in JavaScript).
      const dWeights = tf.reshape(
        tf.matMul(tf.tensor2d(transposed(patchValues, m, width), [width, m]), dy2),
        weights.shape,
      );
      const kernelValues = weights.dataSync() as Float32Array;
      let dInput: tf.Tensor;
      if (stride === 1) {
        // dL/dx of a stride-1 convolution is a forward convolution of dy with the kernel flipped
        // in space and with in/out channels swapped, padded so that the output is h x w again.
        const top = kh - 1 - rows.before;
        const left = kw - 1 - columns.before;
        dInput = tf.conv2d(dy, tf.tensor4d(flippedSwapped(kernelValues, kh, kw, c, filters), [kh, kw, filters, c]), 1, [
          [0, 0],
          [top, h - rows.output + kh - 1 - top],
          [left, w - columns.output + kw - 1 - left],
          [0, 0],
        ]);
      } else {
        const dPatches = tf.matMul(dy2, tf.tensor2d(transposed(kernelValues, width, filters), [filters, width]));
        dInput = tf.tensor4d(col2im(dPatches.dataSync() as Float32Array, g), [n, h, w, c]);
      }
      return [dInput, dWeights] as tf.Tensor[];
    };
    return { value, gradFunc };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return convolve(x, kernel) as tf.Tensor4D;
}
