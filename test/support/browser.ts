import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT } from './processes.js';

/** Debian's Chromium (`apt-get install -y chromium`); playwright-core never downloads a browser here. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
}

/** What a page did that a user would not want: requests to another origin, console errors, uncaught exceptions. */
export interface PageWatch {
  foreignRequests: string[];
  consoleErrors: string[];
  /** Connection failures the browser itself logs while the server is down (not the page's own errors). */
  networkNoise: string[];
  /** Every console message, for diagnosis. */
  log: string[];
}

// Chromium logs these when the control plane is unreachable; they are the browser's, not the app's.
const NETWORK_NOISE = [/^Failed to load resource: net::ERR_/, /^WebSocket connection to .* failed/];

export function watchPage(page: Page, origin: string): PageWatch {
  const watch: PageWatch = { foreignRequests: [], consoleErrors: [], networkNoise: [], log: [] };
  page.on('request', (req) => {
    const url = req.url();
    if (url.startsWith('data:') || url.startsWith('blob:')) return;
    if (new URL(url).origin !== origin) watch.foreignRequests.push(url);
  });
  page.on('console', (msg) => {
    const text = msg.text();
    watch.log.push(`${msg.type()}: ${text} (${msg.location().url})`);
    if (msg.type() !== 'error') return;
    const noise =
      NETWORK_NOISE.some((re) => re.test(text)) ||
      // The session probe of a signed-out page and a sign-in with a wrong key answer 401 (the contract's answer, which
      // Chromium logs on its own); a server without access control answers the probe with 404.
      (/status of (401|404)/.test(text) && msg.location().url.endsWith('/api/session'));
    (noise ? watch.networkNoise : watch.consoleErrors).push(text);
  });
  page.on('pageerror', (err) => watch.consoleErrors.push(`uncaught: ${err.message}`));
  return watch;
}

/**
 * Screenshots for the README: written to docs/screenshots/ when UPDATE_SCREENSHOTS=1 (so a plain test run leaves the
 * committed PNGs alone), else to a temp folder.
 */
export async function screenshot(page: Page, name: string, dir: string): Promise<string> {
  const target = process.env.UPDATE_SCREENSHOTS === '1' ? join(ROOT, 'docs', 'screenshots') : dir;
  await mkdir(target, { recursive: true });
  const path = join(target, `${name}.png`);
  await page.screenshot({ path });
  return path;
}
