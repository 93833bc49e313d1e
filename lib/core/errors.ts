import { inspect } from 'util';

/**
 * Errors meant for the person running the notebook or command: they name the path
 * and the problem, so callers print `message` instead of a TensorFlow stack trace.
 */
export class UserFacingError extends Error {
  constructor(
    message: string,
    readonly path?: string,
  ) {
    super(path ? `${path}: ${message}` : message);
    this.name = 'UserFacingError';
    // The message says it all: notebooks and terminals show it without a stack trace.
    Object.defineProperty(this, 'stack', { get: () => `${this.name}: ${this.message}`, configurable: true });
  }

  /**
   * tslab prints a failing cell's error with console.error, that is util.inspect: without this it
   * shows "[DatasetError: message] { path: '...' }". With it: the one line "DatasetError: message".
   */
  [inspect.custom](): string {
    return `${this.name}: ${this.message}`;
  }
}

/** A data folder that cannot be used (missing, empty, a single class...). */
export class DatasetError extends UserFacingError {
  constructor(message: string, path?: string) {
    super(message, path);
    this.name = 'DatasetError';
  }
}

/** One image file that cannot be decoded; long runs skip it and list it. */
export class ImageDecodeError extends UserFacingError {
  constructor(message: string, path: string) {
    super(message, path);
    this.name = 'ImageDecodeError';
  }
}

/** Missing, damaged or unexpected model weights or saved models. */
export class ModelFileError extends UserFacingError {
  constructor(message: string, path?: string) {
    super(message, path);
    this.name = 'ModelFileError';
  }
}

/** Wraps any error into one line for the terminal: user errors as they are, others with their message only. */
export function describeError(error: unknown): string {
  if (error instanceof UserFacingError) return error.message;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
