/** RGB pictures as PNG, and a labelled grid of them (the Grad-CAM figure). */
import { createCanvas, Canvas } from 'canvas';
import { UserFacingError } from '../core/errors';
import { checkSize, fitText, font, pngOf, textColour } from './drawing';

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
