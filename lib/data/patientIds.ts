/**
 * Patient ids from a CSV, and the group keys that keep one patient's images (and one duplicate
 * group) in one split.
 */
import * as fs from 'fs';
import * as path from 'path';
import { UserFacingError } from '../core/errors';
import { DisjointSets, DuplicateGroup } from './duplicates';

const fileColumnNames = ['file', 'filename', 'file_name', 'path', 'image', 'image_id', 'imageid', 'image_name'];
const patientColumnNames = ['patient', 'patient_id', 'patientid', 'patient id', 'subject', 'subject_id'];

/** Splits one CSV line, honouring double quotes ("a,b" and "" for a quote); null if a quote is left open. */
function parseCsvLine(line: string): string[] | null {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const character = line[i];
    if (quoted) {
      if (character === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (character === '"') quoted = false;
      else field += character;
    } else if (character === '"') quoted = true;
    else if (character === ',') {
      fields.push(field);
      field = '';
    } else field += character;
  }
  if (quoted) return null;
  fields.push(field);
  return fields.map((value) => value.trim());
}

/**
 * Reads a CSV with a header naming a file column (file, filename, path, image...) and a patient
 * column (patient, patient_id, patientid...). Returns base file name -> patient id (base names,
 * so "COVID/COVID-1.png" and "COVID-1.png" match). Throws UserFacingError naming the csv line for
 * a wrong field count, an empty value, an open quote or a file listed with two patients.
 * Quoted fields may not span lines.
 */
export function readPatientIds(csvPath: string): Map<string, string> {
  let text: string;
  try {
    text = fs.readFileSync(csvPath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UserFacingError(
      code === 'ENOENT' ? 'patient id file not found' : `cannot read the patient id file ` + `(${code})`,
      csvPath,
    );
  }
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = parseCsvLine(lines[0] ?? '');
  const normalised = (header ?? []).map((name) => name.toLowerCase());
  const fileColumn = normalised.findIndex((name) => fileColumnNames.includes(name));
  const patientColumn = normalised.findIndex((name) => patientColumnNames.includes(name));
  if (!header || fileColumn < 0 || patientColumn < 0) {
    throw new UserFacingError(
      `line 1: header must name a file column (${fileColumnNames.join(', ')}) and a patient column ` +
        `(${patientColumnNames.join(', ')}); got "${lines[0] ?? ''}"`,
      csvPath,
    );
  }
  const patients = new Map<string, string>();
  const lineOfFile = new Map<string, number>();
  for (let index = 1; index < lines.length; index++) {
    const lineNumber = index + 1;
    if (lines[index].trim() === '') continue;
    const fields = parseCsvLine(lines[index]);
    if (!fields) throw new UserFacingError(`line ${lineNumber}: a quoted field is not closed`, csvPath);
    if (fields.length !== header.length) {
      throw new UserFacingError(
        `line ${lineNumber}: expected ${header.length} fields like the header, found ` + `${fields.length}`,
        csvPath,
      );
    }
    const file = path.basename(fields[fileColumn].replace(/\\/g, '/'));
    const patient = fields[patientColumn];
    if (!file) throw new UserFacingError(`line ${lineNumber}: empty file name`, csvPath);
    if (!patient) throw new UserFacingError(`line ${lineNumber}: empty patient id for ${file}`, csvPath);
    const earlier = patients.get(file);
    if (earlier !== undefined && earlier !== patient) {
      throw new UserFacingError(
        `line ${lineNumber}: ${file} is listed for patient ${patient} but line ${lineOfFile.get(file)} gives ` +
          `patient ${earlier}`,
        csvPath,
      );
    }
    patients.set(file, patient);
    lineOfFile.set(file, lineNumber);
  }
  if (patients.size === 0) throw new UserFacingError('patient id file lists no images', csvPath);
  return patients;
}

/**
 * Group keys for a group-aware split (e.g. data.ts splitDataset's groupOf): images of one patient
 * and members of one duplicate group share a key, transitively, so a split that keeps keys
 * together prevents leakage instead of repairing it later. Every path gets a key; paths whose
 * base name has no patient id are listed in `withoutPatientId` (when patient ids are given).
 */
export function groupingKeys(
  paths: readonly string[],
  sources: { patientIds?: ReadonlyMap<string, string>; duplicateGroups?: readonly DuplicateGroup[] },
): { keys: Map<string, string>; withoutPatientId: string[] } {
  const indexOfPath = new Map(paths.map((filePath, index) => [filePath, index]));
  const sets = new DisjointSets(paths.length);
  const withoutPatientId: string[] = [];
  if (sources.patientIds) {
    const firstOfPatient = new Map<string, number>();
    paths.forEach((filePath, index) => {
      const patient = sources.patientIds?.get(path.basename(filePath));
      if (patient === undefined) {
        withoutPatientId.push(filePath);
        return;
      }
      const first = firstOfPatient.get(patient);
      if (first === undefined) firstOfPatient.set(patient, index);
      else sets.union(first, index);
    });
  }
  for (const group of sources.duplicateGroups ?? []) {
    const indices = group.members
      .map((member) => indexOfPath.get(member.path))
      .filter((index): index is number => index !== undefined);
    for (const index of indices.slice(1)) sets.union(indices[0], index);
  }
  const keys = new Map<string, string>();
  paths.forEach((filePath, index) => keys.set(filePath, `group:${paths[sets.find(index)]}`));
  return { keys, withoutPatientId };
}
