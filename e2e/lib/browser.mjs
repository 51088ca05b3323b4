// Chromium as the suite drives it: Debian's build, fake camera and microphone, loopback WebRTC.
import { chromium } from 'playwright-core';
import { PASSWORD, freshCode, sleep } from './telemed.mjs';

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required'];

export async function launch() {
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
}

// A person at their own browser window (a context of its own: its own cookies).
export async function person(browser, label, problems) {
  const context = await browser.newContext({ viewport: { width: 900, height: 900 } });
  const page = await context.newPage();
  watch(page, label, problems);
  return { context, page, label };
}

export function watch(page, label, problems) {
  page.on('pageerror', (e) => problems.push(`[${label}] page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/favicon|ERR_ABORTED|status of 4\d\d/.test(m.text())) problems.push(`[${label}] console: ${m.text()}`);
  });
}

export async function signIn(page, base, user) {
  await page.goto(`${base}/signin`);
  await page.fill('#f-email', user.email);
  await page.fill('#f-password', PASSWORD);
  await Promise.all([page.waitForURL((u) => u.pathname !== '/signin'), page.click('form[action="/signin"] button[type=submit]')]);
  if (new URL(page.url()).pathname === '/signin/code') {
    await page.fill('#f-code', await freshCode(user.totp));
    await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/signin')), page.click('form:has(#f-code) button[type=submit]')]);
  }
}

// Per remote peer: decoded video frames, bytes, the selected candidate pair.
export async function inbound(page) {
  return page.evaluate(() => (window.telemedVisit ? window.telemedVisit.inboundVideo() : {}));
}

// Waits until every one of `count` remote peers shows decoded video; returns the stats.
export async function waitForVideo(page, count, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let last = {};
  while (Date.now() < deadline) {
    last = await inbound(page);
    const peers = Object.values(last);
    if (peers.length >= count && peers.filter((p) => p.framesDecoded > 0).length >= count) return last;
    await sleep(100);
  }
  throw new Error(`no decoded video from ${count} peer(s) within ${timeoutMs} ms: ${JSON.stringify(last)}`);
}

// Decoded frames grow: the call is live, not a frozen first frame.
export async function videoGrows(page, label) {
  const before = await inbound(page);
  await sleep(1500);
  const after = await inbound(page);
  for (const [peer, s] of Object.entries(after)) {
    const b = before[peer];
    if (!b || !(s.framesDecoded > b.framesDecoded) || !(s.bytesReceived > b.bytesReceived)) {
      throw new Error(`[${label}] video from ${peer} does not grow: ${JSON.stringify(b)} -> ${JSON.stringify(s)}`);
    }
  }
  return after;
}
