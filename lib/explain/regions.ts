/**
 * Regions of the chest X-ray for the shortcut audit: a central box where the lungs usually are, or
 * a real lung mask, as a size x size 0/1 map; how much of a heatmap's energy falls inside it; and
 * images with the region blacked out or with only the region kept.
 */
import { imageSize } from '../core/contracts';
import { UserFacingError } from '../core/errors';

/** Fractions of the width (x) and height (y) that bound the central box, e.g. x 0.1-0.9, y 0.08-0.92. */
export interface CentralBox {
  x: [number, number];
  y: [number, number];
}

/** 1 inside the box, 0 outside; a pixel is inside when its centre is. */
export function centralBoxMask(box: CentralBox, size = imageSize): Uint8Array {
  for (const [low, high] of [box.x, box.y])
    if (!(low >= 0 && high <= 1 && low < high))
      throw new UserFacingError(`central box bounds must satisfy 0 <= low < high <= 1, got [${low}, ${high}]`);
  const mask = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    const fy = (y + 0.5) / size;
    if (fy < box.y[0] || fy > box.y[1]) continue;
    for (let x = 0; x < size; x++) {
      const fx = (x + 0.5) / size;
      if (fx >= box.x[0] && fx <= box.x[1]) mask[y * size + x] = 1;
    }
  }
  return mask;
}

/** Share of the heatmap's total (its "energy") inside the mask; NaN for an all-zero heatmap. */
export function energyInside(heatmap: Float32Array, mask: Uint8Array): number {
  if (heatmap.length !== mask.length)
    throw new UserFacingError(`heatmap (${heatmap.length} values) and mask (${mask.length}) differ in size`);
  let inside = 0;
  let total = 0;
  for (let i = 0; i < heatmap.length; i++) {
    total += heatmap[i];
    if (mask[i]) inside += heatmap[i];
  }
  return total > 0 ? inside / total : NaN;
}

/** The mask's share of the image: the energy share a uniform heatmap would have. */
export function maskArea(mask: Uint8Array): number {
  return mask.reduce((sum, value) => sum + value, 0) / mask.length;
}

/**
 * RGB bytes with the region blacked out ('region-out': the lungs hidden, only the border left) or
 * with only the region kept ('region-only': everything outside it black).
 */
export function blackOut(rgb: Uint8Array, mask: Uint8Array, mode: 'region-out' | 'region-only'): Uint8Array {
  if (rgb.length !== mask.length * 3) throw new UserFacingError('blackOut: image and mask differ in size');
  const result = Uint8Array.from(rgb);
  const hideInside = mode === 'region-out';
  for (let i = 0; i < mask.length; i++) {
    if (Boolean(mask[i]) === hideInside) result.fill(0, i * 3, i * 3 + 3);
  }
  return result;
}

/** Equal-width histogram of values in [0, 1]: the share of the finite values in each bin. */
export function histogram(values: readonly number[], bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  const finite = values.filter(Number.isFinite);
  for (const value of finite) counts[Math.min(bins - 1, Math.max(0, Math.floor(value * bins)))]++;
  return counts.map((count) => (finite.length ? count / finite.length : 0));
}
