/**
 * IEEE float16 storage for the cached block inputs: half the disk and memory of float32
 * (conv5_block2_out: 200,704 bytes per image instead of 401,408). The values are post-ReLU
 * activations (0 to a few tens), where float16 keeps about 3 significant digits.
 */
const decodeTable = (() => {
  const table = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const fraction = bits & 0x3ff;
    if (exponent === 0) table[bits] = sign * fraction * 2 ** -24;
    else if (exponent === 31) table[bits] = fraction ? NaN : sign * Infinity;
    else table[bits] = sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }
  return table;
})();

const floatView = new Float32Array(1);
const intView = new Uint32Array(floatView.buffer);

/** Nearest float16 (round half to even), saturating to infinity beyond 65504. */
function toHalf(value: number): number {
  floatView[0] = value;
  const bits = intView[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 31) return sign | 0x7c00;
  // Subnormal halves: multiples of 2^-24 (1024 of them rounds up to the smallest normal, 0x400).
  if (halfExponent <= 0) return sign | Math.round(Math.abs(value) * 2 ** 24);
  let half = sign | (halfExponent << 10) | (mantissa >> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++; // may carry into the exponent: still right
  return half;
}

export function encodeHalf(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = toHalf(values[i]);
  return out;
}

/** Decodes `count` halves from `bytes` (little-endian) into `target` at `offset`. */
export function decodeHalfInto(bytes: Uint8Array, target: Float32Array, offset: number): void {
  const count = bytes.length >> 1;
  for (let i = 0; i < count; i++) target[offset + i] = decodeTable[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
}
