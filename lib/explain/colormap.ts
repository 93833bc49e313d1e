/**
 * OpenCV's COLORMAP_JET, rebuilt the way OpenCV builds it, so that heatmaps match
 * `cv2.applyColorMap(..., cv2.COLORMAP_JET)` colour for colour.
 *
 * OpenCV (imgproc/src/colormap.cpp, class Jet) stores the GNU Octave "jet" curves sampled at
 * 256 points x = linspace(0, 1, 256) as float32, interpolates them linearly (interp1) onto the
 * same 256 points, and converts to uint8 with `convertTo(CV_8U, 255)` (round half to even,
 * saturate). Many entries land exactly on .5 after the x255, so float32 rounding decides them:
 * every step below is done in float32 (Math.fround) to keep those ties on the same side.
 */

import { UserFacingError } from '../core/errors';

const tableSize = 256;
const float32 = Math.fround;

function clampUnit(value: number): number {
  return Math.min(1, Math.max(0, value));
}

/** Octave's jet.m: three overlapping trapezoids, evaluated in double like the tables OpenCV ships. */
function jetCurves(x: number): [number, number, number] {
  const red = clampUnit(Math.min(4 * x - 1.5, -4 * x + 4.5));
  const green = clampUnit(Math.min(4 * x - 0.5, -4 * x + 3.5));
  const blue = clampUnit(Math.min(4 * x + 0.5, -4 * x + 2.5));
  return [red, green, blue];
}

/** OpenCV's linspace(x0, x1, n) in float32. */
function float32Linspace(start: number, end: number, count: number): number[] {
  const step = float32(float32(end - start) / (count - 1));
  const points: number[] = [];
  for (let i = 0; i < count; i++) points.push(float32(start + float32(i * step)));
  return points;
}

/** OpenCV's interp1_<float> for one query point: bounded binary search, then a float32 line. */
function interpolateFloat32(xs: number[], ys: number[], query: number): number {
  let low = 0;
  let high = xs.length - 1;
  if (query < xs[low]) high = 1;
  if (query > xs[high]) low = high - 1;
  while (high - low > 1) {
    const middle = low + ((high - low) >> 1);
    if (query > xs[middle]) low = middle;
    else high = middle;
  }
  const slopeTimesOffset = float32(float32(query - xs[low]) * float32(ys[high] - ys[low]));
  return float32(ys[low] + float32(slopeTimesOffset / float32(xs[high] - xs[low])));
}

/** cvRound + saturate_cast<uchar>: round half to even, clamp to 0..255. */
export function roundToUint8(value: number): number {
  if (Number.isNaN(value)) return 0;
  const floor = Math.floor(value);
  const fraction = value - floor;
  let rounded = fraction > 0.5 ? floor + 1 : fraction < 0.5 ? floor : floor % 2 === 0 ? floor : floor + 1;
  if (rounded < 0) rounded = 0;
  if (rounded > 255) rounded = 255;
  return rounded;
}

let cachedJet: Uint8Array | undefined;

/**
 * The 256 colours of OpenCV's COLORMAP_JET as RGB triples (entry v at [3v, 3v+1, 3v+2]).
 * Index 0 is dark blue (0,0,128), index 255 dark red (128,0,0). Returns a fresh copy.
 */
export function jetColormap(): Uint8Array {
  if (!cachedJet) {
    const xs = float32Linspace(0, 1, tableSize);
    const curves: number[][] = [[], [], []];
    for (let i = 0; i < tableSize; i++) {
      const values = jetCurves(i / (tableSize - 1));
      for (let channel = 0; channel < 3; channel++) curves[channel].push(float32(values[channel]));
    }
    const table = new Uint8Array(tableSize * 3);
    for (let i = 0; i < tableSize; i++) {
      for (let channel = 0; channel < 3; channel++) {
        const level = interpolateFloat32(xs, curves[channel], xs[i]);
        table[i * 3 + channel] = roundToUint8(float32(level * 255));
      }
    }
    cachedJet = table;
  }
  return cachedJet.slice();
}

/** Maps each uint8 value to its JET colour: returns RGB, 3 bytes per input value. */
export function applyColormap(values: Uint8Array): Uint8Array {
  if (!(values instanceof Uint8Array)) {
    throw new UserFacingError('applyColormap expects a Uint8Array of values 0..255');
  }
  const table = jetColormap();
  const rgb = new Uint8Array(values.length * 3);
  for (let i = 0; i < values.length; i++) {
    const entry = values[i] * 3;
    rgb[i * 3] = table[entry];
    rgb[i * 3 + 1] = table[entry + 1];
    rgb[i * 3 + 2] = table[entry + 2];
  }
  return rgb;
}
