/** Finding image files: by extension, and recursively under a folder. */
import * as fs from 'fs';
import * as path from 'path';

const imageExtensions = ['.png', '.jpg', '.jpeg'];

export function isImageFile(name: string): boolean {
  return imageExtensions.includes(path.extname(name).toLowerCase());
}

/** PNG/JPEG files under a folder, recursively, sorted; hidden entries skipped, symlink loops not followed. */
export function imagesInFolder(folder: string): string[] {
  const found: string[] = [];
  const visited = new Set<string>();
  const walk = (current: string) => {
    let real: string;
    try {
      real = fs.realpathSync(current);
    } catch {
      return;
    }
    if (visited.has(real)) return;
    visited.add(real);
    const entries = fs
      .readdirSync(current, { withFileTypes: true })
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const full = path.join(current, entry.name);
      let isDirectory = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        try {
          const stats = fs.statSync(full);
          isDirectory = stats.isDirectory();
          isFile = stats.isFile();
        } catch {
          isFile = true; // a dangling link: listed, then reported as not found
        }
      }
      if (isDirectory) walk(full);
      else if (isFile && isImageFile(entry.name)) found.push(full);
    }
  };
  walk(folder);
  return found;
}
