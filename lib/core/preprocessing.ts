/**
 * Shortcut mitigations: what happens to an X-ray before the article's 224x224 resize and caffe
 * preprocessing. One setting (`preprocessing.mitigation`, CXR_MITIGATION) switches one on; the
 * others are its parameters. The name of the preprocessing keys the feature cache and is saved
 * with the model, so predict/explain/evaluate use what the model was trained with.
 */
import { UserFacingError } from './errors';

export const mitigationNames = ['none', 'crop-border', 'mask-border', 'equalize', 'clahe'] as const;
/**
 * - 'none': the article's preprocessing (stretch to 224x224, nearest neighbour).
 * - 'crop-border': cut `cropFraction` of every side off before the resize (markers and labels sit there).
 * - 'mask-border': after the resize, everything outside `maskBox` filled with `maskFill`.
 * - 'equalize': global histogram equalisation of the resized image (OpenCV's equalizeHist rule).
 * - 'clahe': contrast-limited adaptive histogram equalisation (sharp's clahe) of the resized image.
 */
export type MitigationName = (typeof mitigationNames)[number];

export interface PreprocessingSettings {
  mitigation: MitigationName;
  /** crop-border: fraction of the width and of the height cut from each side. */
  cropFraction: number;
  /** mask-border: the kept box, as fractions of the width (x) and height (y). */
  maskBox: { x: [number, number]; y: [number, number] };
  /** mask-border: 'mean' = the ImageNet mean colour (zero after caffe preprocessing, occlusion's grey) or 'black'. */
  maskFill: 'mean' | 'black';
  /** clahe: tile side in pixels of the 224x224 image, and the contrast limit (sharp's maxSlope). */
  clahe: { tile: number; maxSlope: number };
}

/** The article's preprocessing, with the parameters the mitigations use when switched on. */
export const defaultPreprocessing: PreprocessingSettings = {
  mitigation: 'none',
  cropFraction: 0.12,
  maskBox: { x: [0.1, 0.9], y: [0.08, 0.92] },
  maskFill: 'mean',
  clahe: { tile: 28, maxSlope: 3 },
};

/** The base name of the article's decoding and preprocessing (bumped when decoding changes). */
export const basePreprocessingName = 'keras-nearest-caffe-v1';

/** A clear error for settings that cannot work, naming the setting. */
export function checkPreprocessing(settings: PreprocessingSettings, where = 'config'): void {
  const fail = (name: string, problem: string) => {
    throw new UserFacingError(`${where}: preprocessing.${name} ${problem}`);
  };
  if (!(mitigationNames as readonly string[]).includes(settings.mitigation))
    fail('mitigation', `"${String(settings.mitigation)}" is unknown; choose ${mitigationNames.join(', ')}`);
  const crop = settings.cropFraction;
  if (!(typeof crop === 'number' && crop >= 0 && crop < 0.5))
    fail('cropFraction', `must be a fraction from 0 up to (not including) 0.5, got ${JSON.stringify(crop)}`);
  for (const axis of ['x', 'y'] as const) {
    const [low, high] = settings.maskBox?.[axis] ?? [];
    if (!(low >= 0 && high <= 1 && low < high))
      fail(`maskBox.${axis}`, `must be [low, high] with 0 <= low < high <= 1, got ${JSON.stringify([low, high])}`);
  }
  if (settings.maskFill !== 'mean' && settings.maskFill !== 'black')
    fail('maskFill', `must be 'mean' or 'black', got ${JSON.stringify(settings.maskFill)}`);
  const { tile, maxSlope } = settings.clahe ?? {};
  if (!(Number.isInteger(tile) && tile >= 2 && tile <= 224))
    fail('clahe.tile', `must be a whole number of pixels from 2 to 224, got ${JSON.stringify(tile)}`);
  if (!(Number.isInteger(maxSlope) && maxSlope >= 0 && maxSlope <= 100))
    fail('clahe.maxSlope', `must be a whole number from 0 to 100, got ${JSON.stringify(maxSlope)}`);
}

/**
 * The name that keys the feature cache and is saved with the model: the article's base name for
 * 'none' (existing caches stay valid), plus the mitigation and its parameters otherwise.
 */
export function preprocessingName(settings: PreprocessingSettings): string {
  switch (settings.mitigation) {
    case 'none':
      return basePreprocessingName;
    case 'crop-border':
      return `${basePreprocessingName}+crop${settings.cropFraction}`;
    case 'mask-border': {
      const { x, y } = settings.maskBox;
      return `${basePreprocessingName}+mask-${settings.maskFill}-x${x[0]}-${x[1]}-y${y[0]}-${y[1]}`;
    }
    case 'equalize':
      return `${basePreprocessingName}+equalize`;
    case 'clahe':
      return `${basePreprocessingName}+clahe${settings.clahe.tile}-${settings.clahe.maxSlope}`;
  }
}

/** One line for logs and tables, e.g. "crop-border (12% of each side)". */
export function describePreprocessing(settings: PreprocessingSettings): string {
  switch (settings.mitigation) {
    case 'none':
      return "none (the article's preprocessing)";
    case 'crop-border':
      return `crop-border (${+(settings.cropFraction * 100).toFixed(1)}% of each side cut before the resize)`;
    case 'mask-border': {
      const { x, y } = settings.maskBox;
      const box = `x ${x[0] * 100}-${x[1] * 100}%, y ${y[0] * 100}-${y[1] * 100}%`;
      return `mask-border (${settings.maskFill === 'mean' ? 'ImageNet-mean grey' : 'black'} outside ${box})`;
    }
    case 'equalize':
      return 'equalize (global histogram equalisation)';
    case 'clahe':
      return `clahe (${settings.clahe.tile}px tiles, max slope ${settings.clahe.maxSlope})`;
  }
}
