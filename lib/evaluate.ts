/** lib/evaluate: step 4, screening metrics with CIs and the metrics.json layout. */
export * from './evaluate/metrics';
export * from './evaluate/runMetrics';
