/** lib/explain: step 5, Grad-CAM and the other CAM methods, their colours, faithfulness and sanity checks. */
export * from './explain/cams';
export * from './explain/colormap';
export * from './explain/gradcam';
export * from './explain/perturbation';
export * from './explain/regions';
export * from './explain/sanity';
