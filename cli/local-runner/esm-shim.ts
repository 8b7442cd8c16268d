/**
 * Lets the CLI (CommonJS under tsx) load the handler modules. They import @middy/core, an
 * ESM-only package whose "exports" offers only an "import" condition, so `require` cannot even
 * resolve it, although Node >= 20.19 can require an ES module. This resolves those bare
 * specifiers to the file its "import" condition names; nothing else changes. Lambda (esbuild
 * bundles) and jest (moduleNameMapper) do not go through here.
 */
import { existsSync, readFileSync } from 'node:fs';
import Module from 'node:module';
import path from 'node:path';

/** @middy/core and what it imports (tsx turns its `import`s into `require`s). */
const ESM_ONLY = /^@middy\/[a-z-]+$/;

type Resolve = (this: unknown, request: string, parent: { paths?: string[] } | undefined, ...rest: unknown[]) => string;
const M = Module as unknown as { _resolveFilename: Resolve & { promvaultShim?: true } };

function importEntry(request: string, parent: { paths?: string[] } | undefined): string | undefined {
  for (const dir of parent?.paths ?? []) {
    const pkgDir = path.join(dir, request);
    const pkgFile = path.join(pkgDir, 'package.json');
    if (!existsSync(pkgFile)) continue;
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as {
      exports?: { '.'?: { import?: { default?: string } | string } };
      module?: string;
    };
    const entry = pkg.exports?.['.']?.import;
    const file = typeof entry === 'string' ? entry : (entry?.default ?? pkg.module);
    if (file !== undefined) return path.join(pkgDir, file);
  }
  return undefined;
}

export function installEsmShim(): void {
  const original = M._resolveFilename;
  if (original.promvaultShim) return;
  const patched: Resolve & { promvaultShim?: true } = function (this: unknown, request, parent, ...rest) {
    try {
      return original.call(this, request, parent, ...rest);
    } catch (err) {
      if (!ESM_ONLY.test(request) || (err as { code?: string }).code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw err;
      const entry = importEntry(request, parent);
      if (entry === undefined) throw err;
      return entry;
    }
  };
  patched.promvaultShim = true;
  M._resolveFilename = patched;
}

installEsmShim();
