// Copies shared/src/redis/lua/**/*.lua beside the compiled JS (tsc copies only TypeScript).
import { cpSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Replaced, not merged: a renamed script (its key count is in the name) must not linger beside the new one.
rmSync(join(root, 'shared/dist/redis/lua'), { recursive: true, force: true });
cpSync(join(root, 'shared/src/redis/lua'), join(root, 'shared/dist/redis/lua'), { recursive: true });
