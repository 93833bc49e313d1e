/** lib/explain: step 5, Grad-CAM and its colours. */
export * from './explain/colormap';
export * from './explain/gradcam';
