/** The confusion matrix as a PNG heatmap with counts, as scikit-learn's ConfusionMatrixDisplay draws it. */
import { createCanvas } from 'canvas';
import { UserFacingError } from '../core/errors';
import { axisColour, fitText, font, pngOf, textColour } from './drawing';

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
