/**
 * PNG charts drawn with node-canvas, standing in for the article's matplotlib figures:
 * training curves, ROC / reliability plots, the confusion matrix and the Grad-CAM image grid.
 * Every function returns PNG bytes; showing or saving them is up to the caller.
 */
import { createCanvas, Canvas, CanvasRenderingContext2D } from 'canvas';
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
const textColour = '#222222';
const axisColour = '#444444';
const gridColour = '#e6e6e6';

function font(size: number, bold = false): string {
  return `${bold ? 'bold ' : ''}${size}px ${fontFamily}`;
}

function pngOf(canvas: Canvas): Buffer {
  return canvas.toBuffer('image/png');
}

function checkSize(value: number, name: string, minimum: number): void {
  if (!Number.isInteger(value) || value < minimum || value > 8192) {
    throw new UserFacingError(`${name} must be an integer between ${minimum} and 8192, got ${value}`);
  }
}

/** Shortens `text` with an ellipsis until it fits in `maxWidth` pixels with the current font. */
function fitText(context: CanvasRenderingContext2D, text: string, maxWidth: number): string {
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

function tickValues(
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
function formatTick(value: number, step: number): string {
  let decimals = 0;
  while (decimals < 6 && Math.abs(Math.round(step * 10 ** decimals) - step * 10 ** decimals) > 1e-6) decimals++;
  const text = value.toFixed(decimals);
  return Number(text) === 0 ? (0).toFixed(decimals) : text;
}

/** Data range of the finite values, padded by 5% (or a fixed amount when there is a single value). */
function autoDomain(values: number[], integerOnly: boolean): [number, number] {
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

function checkDomain(domain: [number, number] | undefined, name: string): void {
  if (domain === undefined) return;
  if (domain.length !== 2 || !Number.isFinite(domain[0]) || !Number.isFinite(domain[1]) || !(domain[1] > domain[0])) {
    throw new UserFacingError(`${name} must be two finite numbers [low, high] with low < high, got [${domain}]`);
  }
}

// ---------------------------------------------------------------------------------------------
// Line chart

export interface LineSeries {
  name: string;
  x: number[];
  y: number[];
  dashed?: boolean;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  xDomain?: [number, number];
  yDomain?: [number, number];
  width?: number;
  height?: number;
  /** Dashed y = x reference line, for ROC curves and reliability diagrams. */
  diagonal?: boolean;
  /** Ticks on whole numbers only (epochs). */
  integerXTicks?: boolean;
}

interface PlotArea {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Picks the corner of the plot where the legend covers the fewest data points. */
function legendCorner(
  area: PlotArea,
  boxWidth: number,
  boxHeight: number,
  points: { x: number; y: number }[],
): { x: number; y: number } {
  const inset = 10;
  const corners = [
    { x: area.left + area.width - boxWidth - inset, y: area.top + inset },
    { x: area.left + area.width - boxWidth - inset, y: area.top + area.height - boxHeight - inset },
    { x: area.left + inset, y: area.top + inset },
    { x: area.left + inset, y: area.top + area.height - boxHeight - inset },
  ];
  let best = corners[0];
  let bestCovered = Infinity;
  for (const corner of corners) {
    const covered = points.filter(
      (p) =>
        p.x >= corner.x - 4 && p.x <= corner.x + boxWidth + 4 && p.y >= corner.y - 4 && p.y <= corner.y + boxHeight + 4,
    ).length;
    if (covered < bestCovered) {
      best = corner;
      bestCovered = covered;
    }
  }
  return best;
}

/** Points sampled along each drawn segment, so that the legend avoids lines as well as markers. */
function samplePolyline(pixels: ({ x: number; y: number } | null)[]): { x: number; y: number }[] {
  const samples: { x: number; y: number }[] = [];
  for (let i = 0; i < pixels.length; i++) {
    const current = pixels[i];
    if (!current) continue;
    samples.push(current);
    const next = pixels[i + 1];
    if (!next) continue;
    for (let t = 1; t < 12; t++)
      samples.push({ x: current.x + ((next.x - current.x) * t) / 12, y: current.y + ((next.y - current.y) * t) / 12 });
  }
  return samples;
}

/**
 * Line chart with labelled axes, grid, ticks and a legend. Non-finite points break the line;
 * isolated points (e.g. a single epoch) are drawn as markers. Returns PNG bytes.
 */
export function lineChart(options: LineChartOptions): Buffer {
  const width = options.width ?? 720;
  const height = options.height ?? 450;
  checkSize(width, 'chart width', 200);
  checkSize(height, 'chart height', 150);
  checkDomain(options.xDomain, 'xDomain');
  checkDomain(options.yDomain, 'yDomain');
  const series = options.series ?? [];
  series.forEach((one, index) => {
    if (!Array.isArray(one.x) || !Array.isArray(one.y) || one.x.length !== one.y.length) {
      throw new UserFacingError(
        `series ${index} ("${one.name}") needs x and y arrays of the same length, got ${one.x?.length} and ${one.y?.length}`,
      );
    }
  });
  const integerX = options.integerXTicks ?? false;
  const finitePairs = series.flatMap((one) =>
    one.x.map((x, i) => [x, one.y[i]]).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)),
  );
  const xDomain =
    options.xDomain ??
    autoDomain(
      finitePairs.map((pair) => pair[0]),
      integerX,
    );
  const yDomain =
    options.yDomain ??
    autoDomain(
      finitePairs.map((pair) => pair[1]),
      false,
    );

  const canvas = createCanvas(width, height);
  const context = canvas.getContext('2d');
  context.fillStyle = '#ffffff';
  context.fillRect(0, 0, width, height);

  const xTicks = tickValues(xDomain, Math.max(2, Math.round(width / 90)), integerX);
  const yTicks = tickValues(yDomain, Math.max(2, Math.round(height / 60)), false);
  const xTickLabels = xTicks.values.map((value) => formatTick(value, xTicks.step));
  const yTickLabels = yTicks.values.map((value) => formatTick(value, yTicks.step));
  context.font = font(12);
  const yTickWidth = Math.max(0, ...yTickLabels.map((label) => context.measureText(label).width));

  const titleHeight = options.title ? 42 : 14;
  const area: PlotArea = { left: 26 + 8 + yTickWidth + 8, top: titleHeight, width: 0, height: 0 };
  area.width = width - area.left - 20;
  area.height = height - area.top - 58;
  const toPixelX = (x: number): number => area.left + ((x - xDomain[0]) / (xDomain[1] - xDomain[0])) * area.width;
  const toPixelY = (y: number): number =>
    area.top + area.height - ((y - yDomain[0]) / (yDomain[1] - yDomain[0])) * area.height;

  // Title and axis labels.
  context.fillStyle = textColour;
  context.textAlign = 'center';
  context.textBaseline = 'middle';
  if (options.title) {
    context.font = font(17, true);
    context.fillText(fitText(context, options.title, width - 20), width / 2, 22);
  }
  context.font = font(14);
  context.fillText(fitText(context, options.xLabel, area.width), area.left + area.width / 2, height - 16);
  context.save();
  context.translate(16, area.top + area.height / 2);
  context.rotate(-Math.PI / 2);
  context.fillText(fitText(context, options.yLabel, area.height), 0, 0);
  context.restore();

  // Grid and ticks.
  context.font = font(12);
  context.lineWidth = 1;
  xTicks.values.forEach((value, index) => {
    const x = Math.round(toPixelX(value)) + 0.5;
    context.strokeStyle = gridColour;
    context.beginPath();
    context.moveTo(x, area.top);
    context.lineTo(x, area.top + area.height);
    context.stroke();
    context.strokeStyle = axisColour;
    context.beginPath();
    context.moveTo(x, area.top + area.height);
    context.lineTo(x, area.top + area.height + 5);
    context.stroke();
    context.fillStyle = textColour;
    context.textAlign = 'center';
    context.textBaseline = 'top';
    context.fillText(xTickLabels[index], x, area.top + area.height + 8);
  });
  yTicks.values.forEach((value, index) => {
    const y = Math.round(toPixelY(value)) + 0.5;
    context.strokeStyle = gridColour;
    context.beginPath();
    context.moveTo(area.left, y);
    context.lineTo(area.left + area.width, y);
    context.stroke();
    context.strokeStyle = axisColour;
    context.beginPath();
    context.moveTo(area.left - 5, y);
    context.lineTo(area.left, y);
    context.stroke();
    context.fillStyle = textColour;
    context.textAlign = 'right';
    context.textBaseline = 'middle';
    context.fillText(yTickLabels[index], area.left - 8, y);
  });
  context.strokeStyle = axisColour;
  context.strokeRect(area.left + 0.5, area.top + 0.5, area.width, area.height);

  // Data, clipped to the plot area.
  const occupied: { x: number; y: number }[] = [];
  context.save();
  context.beginPath();
  context.rect(area.left, area.top, area.width, area.height);
  context.clip();
  if (options.diagonal) {
    const low = Math.max(xDomain[0], yDomain[0]);
    const high = Math.min(xDomain[1], yDomain[1]);
    if (high > low) {
      const ends = [
        { x: toPixelX(low), y: toPixelY(low) },
        { x: toPixelX(high), y: toPixelY(high) },
      ];
      context.strokeStyle = '#9a9a9a';
      context.lineWidth = 1.2;
      context.setLineDash([5, 5]);
      context.beginPath();
      context.moveTo(ends[0].x, ends[0].y);
      context.lineTo(ends[1].x, ends[1].y);
      context.stroke();
      context.setLineDash([]);
      occupied.push(...samplePolyline(ends));
    }
  }
  series.forEach((one, index) => {
    const colour = seriesColours[index % seriesColours.length];
    const pixels = one.x.map((x, i) =>
      Number.isFinite(x) && Number.isFinite(one.y[i]) ? { x: toPixelX(x), y: toPixelY(one.y[i]) } : null,
    );
    occupied.push(...samplePolyline(pixels));
    context.strokeStyle = colour;
    context.fillStyle = colour;
    context.lineWidth = 2.2;
    context.lineJoin = 'round';
    context.setLineDash(one.dashed ? [8, 5] : []);
    context.beginPath();
    let drawing = false;
    for (const pixel of pixels) {
      if (!pixel) {
        drawing = false;
        continue;
      }
      if (drawing) context.lineTo(pixel.x, pixel.y);
      else context.moveTo(pixel.x, pixel.y);
      drawing = true;
    }
    context.stroke();
    context.setLineDash([]);
    // Markers on short series (epochs) and on points with no neighbour, which have no line.
    const showAll = pixels.filter(Boolean).length <= 20;
    pixels.forEach((pixel, i) => {
      if (!pixel) return;
      const isolated = !pixels[i - 1] && !pixels[i + 1];
      if (!showAll && !isolated) return;
      context.beginPath();
      context.arc(pixel.x, pixel.y, 3.5, 0, Math.PI * 2);
      context.fill();
    });
  });
  context.restore();

  if (finitePairs.length === 0) {
    context.fillStyle = '#888888';
    context.font = font(14);
    context.textAlign = 'center';
    context.textBaseline = 'middle';
    context.fillText('no data', area.left + area.width / 2, area.top + area.height / 2);
  }

  // Legend.
  if (series.length > 0) {
    context.font = font(12);
    const rowHeight = 20;
    const sampleWidth = 28;
    const labels = series.map((one) => {
      const empty = !one.x.some((x, i) => Number.isFinite(x) && Number.isFinite(one.y[i]));
      return fitText(context, empty ? `${one.name} (no data)` : one.name, area.width * 0.5);
    });
    const boxWidth = 10 + sampleWidth + 8 + Math.max(...labels.map((label) => context.measureText(label).width)) + 10;
    const boxHeight = 8 + rowHeight * series.length;
    const corner = legendCorner(area, boxWidth, boxHeight, occupied);
    context.fillStyle = 'rgba(255, 255, 255, 0.9)';
    context.strokeStyle = '#cccccc';
    context.lineWidth = 1;
    context.fillRect(corner.x, corner.y, boxWidth, boxHeight);
    context.strokeRect(corner.x + 0.5, corner.y + 0.5, boxWidth, boxHeight);
    series.forEach((one, index) => {
      const colour = seriesColours[index % seriesColours.length];
      const y = corner.y + 4 + rowHeight * index + rowHeight / 2;
      context.strokeStyle = colour;
      context.fillStyle = colour;
      context.lineWidth = 2.2;
      context.setLineDash(one.dashed ? [6, 4] : []);
      context.beginPath();
      context.moveTo(corner.x + 10, y);
      context.lineTo(corner.x + 10 + sampleWidth, y);
      context.stroke();
      context.setLineDash([]);
      context.fillStyle = textColour;
      context.textAlign = 'left';
      context.textBaseline = 'middle';
      context.fillText(labels[index], corner.x + 10 + sampleWidth + 8, y);
    });
  }
  return pngOf(canvas);
}

// ---------------------------------------------------------------------------------------------
// Confusion matrix

/** matplotlib's "Blues" from white to dark blue, for t in [0, 1]. */
function bluesColour(t: number): [number, number, number] {
  const stops: [number, number, number][] = [
    [247, 251, 255],
    [198, 219, 239],
    [107, 174, 214],
    [33, 113, 181],
    [8, 48, 107],
  ];
  const position = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const index = Math.min(stops.length - 2, Math.floor(position));
  const fraction = position - index;
  return [0, 1, 2].map((c) => Math.round(stops[index][c] + (stops[index + 1][c] - stops[index][c]) * fraction)) as [
    number,
    number,
    number,
  ];
}

/**
 * Confusion matrix as shaded cells: rows are the true class, columns the predicted class; each
 * cell shows its count and its share of the row (recall on the diagonal). Returns PNG bytes.
 */
export function confusionMatrixChart(matrix: number[][], classNames: string[], title = 'Confusion matrix'): Buffer {
  const size = classNames.length;
  if (size < 1) throw new UserFacingError('confusionMatrixChart needs at least one class name');
  if (
    !Array.isArray(matrix) ||
    matrix.length !== size ||
    matrix.some((row) => !Array.isArray(row) || row.length !== size)
  ) {
    throw new UserFacingError(
      `confusion matrix must be ${size}x${size} to match the class names (${classNames.join(', ')})`,
    );
  }
  if (matrix.some((row) => row.some((count) => !Number.isFinite(count) || count < 0))) {
    throw new UserFacingError('confusion matrix counts must be finite and non-negative');
  }
  const cell = 118;
  const measure = createCanvas(10, 10).getContext('2d');
  measure.font = font(14);
  const nameWidth = Math.min(180, Math.max(...classNames.map((name) => measure.measureText(name).width)));
  const left = 30 + nameWidth + 14;
  const top = 50;
  measure.font = font(17, true);
  const titleWidth = measure.measureText(title).width;
  const width = Math.min(2000, Math.max(left + cell * size + 30, 360, titleWidth + 40));
  const height = top + cell * size + 64;
  const canvas = createCanvas(Math.ceil(width), height);
  const context = canvas.getContext('2d');
  context.fillStyle = '#ffffff';
  context.fillRect(0, 0, canvas.width, height);

  context.fillStyle = textColour;
  context.textAlign = 'center';
  context.textBaseline = 'middle';
  context.font = font(17, true);
  context.fillText(fitText(context, title, canvas.width - 20), canvas.width / 2, 24);

  // Centre the matrix under the title when the title is the wider of the two.
  context.save();
  context.translate(Math.round((canvas.width - (left + cell * size + 30)) / 2), 0);
  const largest = Math.max(1, ...matrix.flat());
  for (let row = 0; row < size; row++) {
    const rowTotal = matrix[row].reduce((sum, count) => sum + count, 0);
    for (let column = 0; column < size; column++) {
      const count = matrix[row][column];
      const x = left + column * cell;
      const y = top + row * cell;
      const shade = count / largest;
      const [red, green, blue] = bluesColour(shade);
      context.fillStyle = `rgb(${red}, ${green}, ${blue})`;
      context.fillRect(x, y, cell, cell);
      context.fillStyle = shade > 0.5 ? '#ffffff' : textColour;
      context.textAlign = 'center';
      context.textBaseline = 'middle';
      context.font = font(22, true);
      context.fillText(String(count), x + cell / 2, y + cell / 2 - 10);
      if (rowTotal > 0) {
        context.font = font(12);
        context.fillText(`${((100 * count) / rowTotal).toFixed(1)}% of row`, x + cell / 2, y + cell / 2 + 16);
      }
    }
  }
  // Cell borders.
  context.strokeStyle = '#ffffff';
  context.lineWidth = 2;
  for (let i = 1; i < size; i++) {
    context.beginPath();
    context.moveTo(left + i * cell, top);
    context.lineTo(left + i * cell, top + size * cell);
    context.moveTo(left, top + i * cell);
    context.lineTo(left + size * cell, top + i * cell);
    context.stroke();
  }
  context.strokeStyle = axisColour;
  context.lineWidth = 1;
  context.strokeRect(left + 0.5, top + 0.5, size * cell, size * cell);

  // Class names: predicted along the bottom, true down the left.
  context.fillStyle = textColour;
  context.font = font(14);
  classNames.forEach((name, index) => {
    context.textAlign = 'center';
    context.textBaseline = 'top';
    context.fillText(fitText(context, name, cell - 6), left + index * cell + cell / 2, top + size * cell + 8);
    context.textAlign = 'right';
    context.textBaseline = 'middle';
    context.fillText(fitText(context, name, nameWidth), left - 10, top + index * cell + cell / 2);
  });
  context.font = font(14, true);
  context.textAlign = 'center';
  context.textBaseline = 'middle';
  context.fillText('Predicted class', left + (size * cell) / 2, height - 18);
  context.save();
  context.translate(16, top + (size * cell) / 2);
  context.rotate(-Math.PI / 2);
  context.fillText('True class', 0, 0);
  context.restore();
  context.restore();
  return pngOf(canvas);
}

// ---------------------------------------------------------------------------------------------
// Images

export interface GridImage {
  rgb: Uint8Array;
  width: number;
  height: number;
  /** One or more lines separated by "\n", e.g. the file name and the class probability. */
  caption?: string;
}

export interface GridRow {
  label: string;
  images: GridImage[];
}

export interface ImageGridOptions {
  rows: GridRow[];
  title?: string;
  /** Each image is scaled to fit a cellSize x cellSize square (aspect kept). */
  cellSize?: number;
}

function checkRgb(rgb: Uint8Array, width: number, height: number, what: string): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new UserFacingError(`${what}: width and height must be positive integers, got ${width}x${height}`);
  }
  if (!(rgb instanceof Uint8Array) || rgb.length !== width * height * 3) {
    throw new UserFacingError(
      `${what}: expected ${width}x${height}x3 = ${width * height * 3} RGB bytes, got ${rgb?.length}`,
    );
  }
}

/** Canvas holding an RGB image at its own size (opaque). */
function rgbCanvas(rgb: Uint8Array, width: number, height: number): Canvas {
  const canvas = createCanvas(width, height);
  const context = canvas.getContext('2d');
  const pixels = context.createImageData(width, height);
  for (let source = 0, target = 0; source < rgb.length; source += 3, target += 4) {
    pixels.data[target] = rgb[source];
    pixels.data[target + 1] = rgb[source + 1];
    pixels.data[target + 2] = rgb[source + 2];
    pixels.data[target + 3] = 255;
  }
  context.putImageData(pixels, 0, 0);
  return canvas;
}

/** Encodes packed RGB bytes (row-major, 3 per pixel) as a PNG, pixel for pixel. */
export function rgbToPng(rgb: Uint8Array, width: number, height: number): Buffer {
  checkRgb(rgb, width, height, 'rgbToPng');
  return pngOf(rgbCanvas(rgb, width, height));
}

/**
 * A grid of images with a label per row (e.g. NORMAL on top, COVID-19 below, as in the article's
 * Grad-CAM figure) and captions under each image. Returns PNG bytes.
 */
export function imageGrid(options: ImageGridOptions): Buffer {
  const rows = options.rows ?? [];
  const cellSize = options.cellSize ?? 224;
  checkSize(cellSize, 'cellSize', 16);
  const columns = Math.max(0, ...rows.map((row) => row.images.length));
  if (rows.length === 0 || columns === 0)
    throw new UserFacingError('imageGrid needs at least one row with at least one image');
  rows.forEach((row, rowIndex) =>
    row.images.forEach((image, column) =>
      checkRgb(image.rgb, image.width, image.height, `image ${column} of row ${rowIndex} ("${row.label}")`),
    ),
  );

  const captionFont = 13;
  const lineHeight = 17;
  const captionLines = Math.max(
    0,
    ...rows.flatMap((row) => row.images.map((image) => (image.caption ? image.caption.split('\n').length : 0))),
  );
  const captionHeight = captionLines > 0 ? 6 + captionLines * lineHeight : 0;
  const gap = 12;
  const labelWidth = rows.some((row) => row.label) ? 34 : 0;
  const titleHeight = options.title ? 44 : 0;
  const width = 12 + labelWidth + columns * cellSize + (columns - 1) * gap + 12;
  const rowHeight = cellSize + captionHeight;
  const height = titleHeight + 12 + rows.length * rowHeight + (rows.length - 1) * gap + 12;
  const canvas = createCanvas(width, height);
  const context = canvas.getContext('2d');
  context.fillStyle = '#ffffff';
  context.fillRect(0, 0, width, height);

  if (options.title) {
    context.fillStyle = textColour;
    context.font = font(18, true);
    context.textAlign = 'center';
    context.textBaseline = 'middle';
    context.fillText(fitText(context, options.title, width - 20), width / 2, 26);
  }
  context.imageSmoothingEnabled = true;
  context.quality = 'best';
  rows.forEach((row, rowIndex) => {
    const top = titleHeight + 12 + rowIndex * (rowHeight + gap);
    if (row.label) {
      context.save();
      context.fillStyle = textColour;
      context.font = font(16, true);
      context.textAlign = 'center';
      context.textBaseline = 'middle';
      context.translate(12 + labelWidth / 2 - 2, top + cellSize / 2);
      context.rotate(-Math.PI / 2);
      context.fillText(fitText(context, row.label, cellSize), 0, 0);
      context.restore();
    }
    row.images.forEach((image, column) => {
      const left = 12 + labelWidth + column * (cellSize + gap);
      const scale = Math.min(cellSize / image.width, cellSize / image.height);
      const drawWidth = image.width * scale;
      const drawHeight = image.height * scale;
      context.fillStyle = '#f2f2f2';
      context.fillRect(left, top, cellSize, cellSize);
      context.drawImage(
        rgbCanvas(image.rgb, image.width, image.height),
        left + (cellSize - drawWidth) / 2,
        top + (cellSize - drawHeight) / 2,
        drawWidth,
        drawHeight,
      );
      if (image.caption) {
        context.fillStyle = textColour;
        context.font = font(captionFont);
        context.textAlign = 'center';
        context.textBaseline = 'top';
        image.caption.split('\n').forEach((line, lineIndex) => {
          context.fillText(
            fitText(context, line, cellSize),
            left + cellSize / 2,
            top + cellSize + 6 + lineIndex * lineHeight,
          );
        });
      }
    });
  });
  return pngOf(canvas);
}
