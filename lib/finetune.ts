/** lib/finetune: stage 2, the unfrozen ResNet50 block trained with the head (notebook 06). */
export * from './finetune/block';
export * from './finetune/blockInputs';
export * from './finetune/convMatMul';
export * from './finetune/engine';
export * from './finetune/half';
export * from './finetune/store';
export * from './finetune/train';
export * from './finetune/trunk';
