/** lib/evaluate: step 4, screening metrics with CIs and the metrics.json layout. */
export * from './evaluate/confusion';
export * from './evaluate/ranking';
export * from './evaluate/calibration';
export * from './evaluate/bootstrap';
export * from './evaluate/threshold';
export * from './evaluate/screening';
export * from './evaluate/runMetrics';
