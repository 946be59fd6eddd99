import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// src/core is the pure domain: no I/O, no clock, no randomness, no outer layers (DESIGN section 12).

const coreDir = path.resolve(import.meta.dirname, '../../src/core');
// Every file under src/core, phase-rules/ and any other subfolder included.
const files = (readdirSync(coreDir, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
/** Libraries that compute without I/O, clock or randomness: schemas, diffs and glob matching. */
const PURE_LIBRARIES = new Set(['zod', 'diff', 'minimatch']);

function imports(text: string): string[] {
  return [
    ...text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g),
  ].map((m) => (m[1] ?? m[2])!);
}

describe('src/core purity', () => {
  it('has files to check', () => {
    expect(files.length).toBeGreaterThan(5);
  });

  it.each(files)('%s imports only core and pure libraries', (file) => {
    const text = readFileSync(path.join(coreDir, file), 'utf8');
    for (const spec of imports(text)) {
      // Core is the ground floor (issue 14): not even types come from config or any other layer.
      const inCore =
        spec.startsWith('.') &&
        !path.relative(coreDir, path.resolve(coreDir, path.dirname(file), spec)).startsWith('..');
      const allowed = inCore || PURE_LIBRARIES.has(spec);
      expect(allowed, `${file} imports ${spec}`).toBe(true);
    }
  });

  it.each(files)('%s reads no clock, randomness or process state', (file) => {
    const text = readFileSync(path.join(coreDir, file), 'utf8');
    for (const banned of [
      'Date.now(',
      'Math.random(',
      'new Date()',
      'process.',
      'require(',
      'performance.now(',
    ]) {
      expect(text.includes(banned), `${file} uses ${banned}`).toBe(false);
    }
  });

  it('would catch an I/O import', () => {
    expect(imports("import { readFile } from 'node:fs/promises';")).toEqual(['node:fs/promises']);
    expect(imports("import type { Store } from '../app/ports.ts';")).toEqual(['../app/ports.ts']);
    expect(imports("import type { Knob } from '../config/rea-config.ts';")).toEqual([
      '../config/rea-config.ts',
    ]);
  });
});
