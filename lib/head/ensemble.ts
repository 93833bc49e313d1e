/**
 * Training a recipe: one head, or an ensemble of heads over init seeds seed, seed+1, ... whose
 * probabilities are averaged, saved as one model (combineHeads). Pure head work, no display.
 */
import * as tf from '@tensorflow/tfjs';
import type { Config } from '../core/config';
import type { FeatureSet } from '../core/contracts';
import { interruptible, InterruptedError } from '../core/interrupt';
import { buildHead, combineHeads } from './head';
import { trainHead, TrainingHooks, TrainingResult, TrainingSettings } from './train';

/** Everything that decides how a head is built and trained. */
export type HeadRecipe = TrainingSettings &
  Pick<Config, 'headHiddenUnits' | 'dropout' | 'weightDecay' | 'ensembleSize'>;

export interface TrainedHeads {
  /** One model: the single head, or the ensemble's mean of probabilities. */
  head: tf.LayersModel;
  /** One training result per member, in seed order. */
  members: TrainingResult[];
  seconds: number;
}

/** The member heads' init seeds: seed, seed+1, ..., seed+ensembleSize-1. */
export function memberSeeds(recipe: Pick<HeadRecipe, 'seed' | 'ensembleSize'>): number[] {
  return Array.from({ length: recipe.ensembleSize }, (_, index) => recipe.seed + index);
}

/** Builds and trains one head of the recipe with the given init seed (also its shuffle seed). */
export async function trainOneHead(
  recipe: HeadRecipe,
  seed: number,
  sets: { train: FeatureSet; validation: FeatureSet },
  options: { classCount?: number; namePrefix?: string; hooks?: TrainingHooks } = {},
): Promise<{ head: tf.LayersModel; result: TrainingResult }> {
  const head = buildHead({
    hiddenUnits: recipe.headHiddenUnits,
    classCount: options.classCount ?? 2,
    seed,
    dropout: recipe.dropout,
    weightDecay: recipe.weightDecay,
    namePrefix: options.namePrefix,
  });
  try {
    const result = await trainHead(head, sets.train, sets.validation, { ...recipe, seed }, options.hooks);
    return { head, result };
  } catch (error) {
    head.dispose();
    throw error;
  }
}

/**
 * Trains the recipe's heads one after the other (hooksFor gives each its live view) and returns
 * them as one model. A single head keeps the article's layer names (fc1, fc2, predictions);
 * ensemble members are named head1_fc1, head2_fc1, ...
 */
export async function trainHeads(
  recipe: HeadRecipe,
  sets: { train: FeatureSet; validation: FeatureSet },
  options: {
    classCount?: number;
    hooksFor?: (member: number, seed: number) => TrainingHooks;
    signal?: AbortSignal;
  } = {},
): Promise<TrainedHeads> {
  const started = Date.now();
  const heads: tf.LayersModel[] = [];
  const members: TrainingResult[] = [];
  const seeds = memberSeeds(recipe);
  const trainAll = async (signal: AbortSignal) => {
    for (const [index, seed] of seeds.entries()) {
      const namePrefix = seeds.length > 1 ? `head${index + 1}_` : undefined;
      const hooks = { ...options.hooksFor?.(index, seed), signal: signal };
      try {
        const trained = await trainOneHead(recipe, seed, sets, { classCount: options.classCount, namePrefix, hooks });
        heads.push(trained.head);
        members.push(trained.result);
      } catch (error) {
        if (error instanceof InterruptedError && seeds.length > 1) {
          throw new InterruptedError(`${error.message} (head ${index + 1} of ${seeds.length})`);
        }
        throw error;
      }
    }
  };
  try {
    await interruptible(trainAll, { signal: options.signal, finished: 'training' });
  } catch (error) {
    heads.forEach((head) => head.dispose());
    throw error;
  }
  return { head: combineHeads(heads), members, seconds: (Date.now() - started) / 1000 };
}
