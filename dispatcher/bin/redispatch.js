#!/usr/bin/env node
// Committed shim so npm links the `redispatch` bin at install time, before `npm run build` has produced dist/.
import('../dist/cli/main.js').catch((error) => {
  if (error?.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('redispatch: not built yet; run `npm run build` first');
    process.exit(1);
  }
  throw error;
});
