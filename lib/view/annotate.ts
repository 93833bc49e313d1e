/**
 * Text written on a picture (e.g. the Grad-CAM overlay): a dark banner under the image with one
 * line per note, red when it is a warning, so the picture never travels without its caveats.
 */
import { createCanvas } from 'canvas';
import { UserFacingError } from '../core/errors';

export interface PictureNote {
  text: string;
  warning?: boolean;
}

/** The RGB image with a banner of notes below it, as PNG bytes. */
export function annotatedPng(rgb: Uint8Array, width: number, height: number, notes: PictureNote[]): Buffer {
  if (rgb.length !== width * height * 3)
    throw new UserFacingError(`annotatedPng: expected ${width}x${height}x3 RGB bytes, got ${rgb.length}`);
  const lineHeight = 14;
  const font = '11px sans-serif';
  const measure = createCanvas(1, 1).getContext('2d');
  measure.font = font;
  // Long notes wrap at word boundaries to the picture's width.
  const lines: PictureNote[] = [];
  for (const note of notes) {
    let line = '';
    for (const word of note.text.split(' ')) {
      const candidate = line ? `${line} ${word}` : word;
      if (line && measure.measureText(candidate).width > width - 8) {
        lines.push({ text: line, warning: note.warning });
        line = word;
      } else line = candidate;
    }
    lines.push({ text: line, warning: note.warning });
  }
  const banner = lines.length ? lines.length * lineHeight + 6 : 0;
  const canvas = createCanvas(width, height + banner);
  const context = canvas.getContext('2d');
  const pixels = context.createImageData(width, height);
  for (let source = 0, target = 0; source < rgb.length; source += 3, target += 4) {
    pixels.data.set([rgb[source], rgb[source + 1], rgb[source + 2], 255], target);
  }
  context.putImageData(pixels, 0, 0);
  context.fillStyle = '#111111';
  context.fillRect(0, height, width, banner);
  context.font = font;
  context.textBaseline = 'top';
  lines.forEach((line, index) => {
    context.fillStyle = line.warning ? '#ff6b6b' : '#f0f0f0';
    context.fillText(line.text, 4, height + 4 + index * lineHeight);
  });
  return canvas.toBuffer('image/png');
}
