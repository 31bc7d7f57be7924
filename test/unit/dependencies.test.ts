/**
 * A fresh install (`npm ci`) gets exactly what package-lock.json pins, and every package in it runs
 * on the oldest Node.js our `engines` admits.
 */
import fs from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..', '..');
const readJson = (file: string): unknown => JSON.parse(fs.readFileSync(file, 'utf8'));

interface Manifest {
  name?: string;
  version?: string;
  engines?: { node?: string };
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}
interface LockEntry extends Manifest {
  integrity?: string;
  link?: boolean;
}

const manifest = readJson(path.join(root, 'package.json')) as Manifest;
const lock = readJson(path.join(root, 'package-lock.json')) as {
  packages: Record<string, LockEntry>;
};
const ourRange = manifest.engines?.node ?? '';
const oldestNode = semver.minVersion(ourRange)?.version ?? '';
const lockedPackages = Object.entries(lock.packages).filter(([key, entry]) => key && !entry.link);

describe('dependencies', () => {
  it('declare a Node.js range', () => {
    expect(oldestNode).toMatch(/^20\./);
  });

  it('all run on the oldest Node.js we declare (package-lock.json)', () => {
    const tooNew = lockedPackages
      .filter(([, entry]) => entry.engines?.node)
      .filter(([, entry]) => !semver.satisfies(oldestNode, entry.engines?.node ?? ''))
      .map(([key, entry]) => `${key}@${entry.version} needs node ${entry.engines?.node}`);
    expect(tooNew).toEqual([]);
  });

  it('all run on the oldest Node.js we declare (installed node_modules)', () => {
    const tooNew: string[] = [];
    for (const [key] of lockedPackages) {
      const file = path.join(root, key, 'package.json');
      if (!fs.existsSync(file)) continue; // an optional package for another platform
      const installed = readJson(file) as Manifest;
      const range = installed.engines?.node;
      if (range && !semver.satisfies(oldestNode, range)) {
        tooNew.push(`${key}@${installed.version} needs node ${range}`);
      }
    }
    expect(tooNew).toEqual([]);
  });

  it('are all pinned with an integrity hash, so npm ci installs them as locked', () => {
    const unpinned = lockedPackages
      .filter(([, entry]) => !entry.integrity || !entry.version)
      .map(([key]) => key);
    expect(unpinned).toEqual([]);
    const top = lock.packages[''];
    expect(top?.dependencies).toEqual(manifest.dependencies);
    expect(top?.devDependencies).toEqual(manifest.devDependencies);
  });

  it('are declared with exact versions', () => {
    const ranges = Object.entries({ ...manifest.dependencies, ...manifest.devDependencies })
      .filter(([, version]) => !semver.valid(version))
      .map(([name, version]) => `${name}@${version}`);
    expect(ranges).toEqual([]);
  });
});
