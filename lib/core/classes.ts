/**
 * Class names as people spell them in folder names: COVID-19 = COVID = covid, NORMAL = Normal.
 * The positive class of the screening task is found by name, never by position.
 */
import { DatasetError } from './errors';

const classAliases: Record<string, string> = { covid19: 'covid', sarscov2: 'covid' };

export function classKey(name: string): string {
  const key = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  return classAliases[key] ?? key;
}

/** Index of `name` among `classNames` (case-insensitive, with aliases), or -1. */
export function matchClass(name: string, classNames: readonly string[]): number {
  const key = classKey(name);
  return key === '' ? -1 : classNames.findIndex((className) => classKey(className) === key);
}

/** The class that screening calls positive. */
const positiveClassName = 'COVID';

/** Index of the COVID class (COVID, COVID-19, covid...); a clear error when there is none. */
export function positiveClassIndex(classNames: readonly string[], where?: string): number {
  const index = matchClass(positiveClassName, classNames);
  if (index < 0) {
    const found = classNames.join(', ');
    throw new DatasetError(`no COVID class among the classes ${found}; name one folder COVID or COVID-19`, where);
  }
  return index;
}

/**
 * Which data folder goes to which model class; a folder or class left over is an error naming
 * both sides.
 */
export function matchClassFolders(
  folderNames: readonly string[],
  classNames: readonly string[],
  dataFolder: string,
  modelFolder: string,
): number[] {
  const mapping = folderNames.map((name) => matchClass(name, classNames));
  const problems: string[] = [];
  const quoted = (names: readonly string[]) => names.map((name) => `"${name}"`);
  const unmatched = folderNames.filter((_, index) => mapping[index] < 0);
  if (unmatched.length) {
    const plural = unmatched.length > 1;
    problems.push(
      `class folder${plural ? 's' : ''} ${quoted(unmatched).join(', ')} match${plural ? '' : 'es'} none of the ` +
        `model's classes`,
    );
  }
  const missing = classNames.filter((_, index) => !mapping.includes(index));
  if (missing.length) {
    const plural = missing.length > 1;
    problems.push(`the model's class${plural ? 'es' : ''} ${missing.join(', ')} ha${plural ? 've' : 's'} no folder`);
  }
  classNames.forEach((className, index) => {
    const folders = folderNames.filter((_, folder) => mapping[folder] === index);
    if (folders.length > 1) problems.push(`folders ${quoted(folders).join(' and ')} both match the class ${className}`);
  });
  if (problems.length) {
    throw new DatasetError(
      `${problems.join('; ')}. The model in ${modelFolder} has classes ${classNames.join(', ')}; ` +
        `the data folder has ${folderNames.join(', ')} (names match case-insensitively, COVID-19 = COVID)`,
      dataFolder,
    );
  }
  return mapping;
}
