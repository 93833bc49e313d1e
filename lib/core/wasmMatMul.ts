/**
 * A speed fix for the tfjs wasm backend (4.22): its BatchMatMul kernel is fast for plain products
 * but 8-12x slower when asked to transpose an operand (transposeA / transposeB), which is exactly
 * what the gradients of every Dense layer ask for. Measured on this machine, 64x2048 and 2048x512:
 * x.w 4 ms, x^T.g with transposeA 167 ms, transpose(x) then .g 20 ms.
 * So on wasm, BatchMatMul is wrapped: a transposed operand is transposed first by the backend's own
 * Transpose kernel, then the plain kernel runs. The result is the same product.
 */
import * as tf from '@tensorflow/tfjs';

type KernelFunction = tf.KernelConfig['kernelFunc'];
interface MatMulInputs {
  a: tf.TensorInfo;
  b: tf.TensorInfo;
}
interface MatMulAttributes {
  transposeA: boolean;
  transposeB: boolean;
}

const wrappedMarker = Symbol('transposeFirst');

/** Installs the wrapper once; returns whether wasm's BatchMatMul is now wrapped. */
export function transposeBeforeWasmMatMul(): boolean {
  const original = tf.getKernel('BatchMatMul', 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!original || !transpose) return false;
  if ((original as unknown as Record<symbol, boolean>)[wrappedMarker]) return true;
  const plainProduct = original.kernelFunc as KernelFunction;
  const kernelFunc: KernelFunction = ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as unknown as MatMulInputs;
    const { transposeA, transposeB } = attrs as unknown as MatMulAttributes;
    if (!transposeA && !transposeB) return plainProduct({ inputs, backend, attrs });
    const swapLastAxes = (tensor: tf.TensorInfo): tf.TensorInfo => {
      const perm = tensor.shape.map((_, axis) => axis);
      perm.push(...perm.splice(-2).reverse());
      return transpose.kernelFunc({ inputs: { x: tensor }, backend, attrs: { perm } }) as tf.TensorInfo;
    };
    const left = transposeA ? swapLastAxes(a) : a;
    const right = transposeB ? swapLastAxes(b) : b;
    try {
      return plainProduct({
        inputs: { a: left, b: right },
        backend,
        attrs: { ...attrs, transposeA: false, transposeB: false },
      });
    } finally {
      for (const temporary of [left, right])
        if (temporary !== a && temporary !== b) (backend as tf.KernelBackend).disposeData(temporary.dataId);
    }
  };
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({ ...original, kernelFunc, [wrappedMarker]: true } as tf.KernelConfig);
  return true;
}
