/**
 * PNG charts drawn with node-canvas, standing in for the article's matplotlib figures:
 * training curves, ROC / reliability plots, the confusion matrix and the Grad-CAM image grid.
 * This file holds what they share: colours, fonts, sizes, axes and ticks. Every chart function
 * returns PNG bytes; showing or saving them is up to the caller.
 */
import { Canvas, CanvasRenderingContext2D } from 'canvas';
import { UserFacingError } from '../core/errors';

/** matplotlib's tab10 colours, so the figures look like the article's. */
export const seriesColours = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

const fontFamily = 'sans-serif';
export const textColour = '#222222';
export const axisColour = '#444444';
export const gridColour = '#e6e6e6';

export function font(size: number, bold = false): string {
  return `${bold ? 'bold ' : ''}${size}px ${fontFamily}`;
}

export function pngOf(canvas: Canvas): Buffer {
  return canvas.toBuffer('image/png');
}

export function checkSize(value: number, name: string, minimum: number): void {
  if (!Number.isInteger(value) || value < minimum || value > 8192) {
    throw new UserFacingError(`${name} must be an integer between ${minimum} and 8192, got ${value}`);
  }
}

/** Shortens `text` with an ellipsis until it fits in `maxWidth` pixels with the current font. */
export function fitText(context: CanvasRenderingContext2D, text: string, maxWidth: number): string {
  if (context.measureText(text).width <= maxWidth) return text;
  let kept = text;
  while (kept.length > 0 && context.measureText(`${kept}…`).width > maxWidth) kept = kept.slice(0, -1);
  return kept.length > 0 ? `${kept}…` : '';
}

// ---------------------------------------------------------------------------------------------
// Axes and ticks

/** 1, 2, 2.5 or 5 times a power of ten, giving about `targetCount` intervals over `span`. */
function niceStep(span: number, targetCount: number, integerOnly: boolean): number {
  const raw = span / Math.max(1, targetCount);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const residual = raw / magnitude;
  const multipliers = integerOnly ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10];
  const multiplier = multipliers.find((candidate) => residual <= candidate) ?? 10;
  const step = multiplier * magnitude;
  return integerOnly ? Math.max(1, Math.round(step)) : step;
}

export function tickValues(
  domain: [number, number],
  targetCount: number,
  integerOnly: boolean,
): { values: number[]; step: number } {
  const step = niceStep(domain[1] - domain[0], targetCount, integerOnly);
  const values: number[] = [];
  const first = Math.ceil(domain[0] / step - 1e-9);
  for (let index = first; index * step <= domain[1] + step * 1e-9; index++) {
    values.push(Number((index * step).toPrecision(12)));
  }
  return { values, step };
}

/** Labels with as many decimals as the tick step needs (0.25 -> 2, 2.5 -> 1, 20 -> 0). */
export function formatTick(value: number, step: number): string {
  let decimals = 0;
  while (decimals < 6 && Math.abs(Math.round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-6) decimals++;
  const text = value.toFixed(decimals);
  return Number(text) === 0 ? (0).toFixed(decimals) : text;
}

/** Data range of the finite values, padded by 5% (or a fixed amount when there is a single value). */
export function autoDomain(values: number[], integerOnly: boolean): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return [0, 1];
  const low = Math.min(...finite);
  const high = Math.max(...finite);
  if (low === high) {
    const pad = integerOnly ? 0.5 : Math.abs(low) > 0 ? Math.abs(low) * 0.1 : 1;
    return [low - pad, high + pad];
  }
  const pad = (high - low) * 0.05;
  return [low - pad, high + pad];
}

export function checkDomain(domain: [number, number] | undefined, name: string): void {
  if (domain === undefined) return;
  if (domain.length !== 2 || !Number.isFinite(domain[0]) || !Number.isFinite(domain[1]) || !(domain[1] > domain[0])) {
    throw new UserFacingError(`${name} must be two finite numbers [low, high] with low < high, got [${domain}]`);
  }
}
