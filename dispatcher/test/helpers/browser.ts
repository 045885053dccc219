import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Debian's chromium (`.ci/run` installs it); REDISPATCH_CHROMIUM points elsewhere. */
export const CHROMIUM = process.env.REDISPATCH_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Whether the browser tests run: when chromium is installed, or when REDISPATCH_REQUIRE_CHROMIUM=1
 * (CI sets it), so a missing browser fails the suite there instead of skipping it.
 */
export const BROWSER_TESTS = existsSync(CHROMIUM) || process.env.REDISPATCH_REQUIRE_CHROMIUM === '1';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM} not found although REDISPATCH_REQUIRE_CHROMIUM=1: install Debian's chromium (.ci/run does) or set REDISPATCH_CHROMIUM`,
    );
  // --no-sandbox: tests run as root in CI, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
}
