/** lib/backbone: step 2, the frozen ImageNet ResNet50: weights, engines, feature cache. */
export * from './backbone/engine';
export * from './backbone/featureCache';
export * from './backbone/featurePipeline';
export * from './backbone/features';
export * from './backbone/kerasToOnnx';
export * from './backbone/kerasWeights';
export * from './backbone/onnxGraph';
export * from './backbone/onnxEngine';
export * from './backbone/onnxExport';
export * from './backbone/onnxInt8';
export * from './backbone/onnxQuantize';
export * from './backbone/resnet50';
export * from './backbone/weights';
