/** Line charts (training curves, ROC, precision-recall, reliability) as PNG bytes. */
import { createCanvas } from 'canvas';
import { UserFacingError } from '../core/errors';
import {
  autoDomain,
  axisColour,
  checkDomain,
  checkSize,
  fitText,
  font,
  formatTick,
  gridColour,
  pngOf,
  seriesColours,
  textColour,
  tickValues,
} from './drawing';

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
        `series ${index} ("${one.name}") needs x and y arrays of the same length, got ${one.x?.length} and ` +
          `${one.y?.length}`,
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
