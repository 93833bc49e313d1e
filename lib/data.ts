/** lib/data: step 1, the X-rays: class folders, split, leakage guard, decoding. */
export * from './data/dataset';
export * from './data/files';
export * from './data/images';
export * from './data/leakage';
export * from './data/masks';
