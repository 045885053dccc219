import { createInterface } from 'node:readline/promises';

/**
 * A destructive command goes ahead with `--yes`; on a terminal it asks first; without a terminal
 * (scripts, CI) it refuses, so a pipeline never deletes by accident. Throws when it must not proceed.
 */
export async function confirmOrRefuse(
  what: string,
  yes: boolean | undefined,
  command: string,
): Promise<void> {
  if (yes) return;
  if (!process.stdin.isTTY)
    throw new Error(`${command} would delete ${what}: pass --yes to confirm (stdin is not a terminal)`);
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`Delete ${what}? [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) throw new Error(`${command}: not confirmed; nothing deleted`);
  } finally {
    prompt.close();
  }
}
