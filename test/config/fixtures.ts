// Locates test/config/fixtures/ from both the compiled (dist/test/config) and source layouts.
import path from 'node:path';

const root = path.resolve(__dirname, path.basename(path.resolve(__dirname, '../..')) === 'dist' ? '../../..' : '../..');

export const FIXTURES = path.join(root, 'test/config/fixtures');
export const REPO_ROOT = root;

export function fixture(name: string): string {
  return path.join(FIXTURES, name);
}
