// Copies shared/src/redis/lua/**/*.lua beside the compiled JS (tsc copies only TypeScript).
import { cpSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
cpSync(join(root, 'shared/src/redis/lua'), join(root, 'shared/dist/redis/lua'), { recursive: true });
