/** lib/head: step 3, the new head: layers, training, saving, inference. */
export * from './head/callbacks';
export * from './head/head';
export * from './head/modelStore';
export * from './head/predict';
export * from './head/train';
export * from './head/calibration';
export * from './head/guardStore';
export * from './head/ood';
export * from './head/ensemble';
