/**
 * Screenshot of a generated report (or any local HTML page) in Debian's headless Chromium:
 *   node --import tsx scripts/screenshot.ts runs/results/report.html docs/report-screenshot.png [height]
 */
import path from 'node:path';
import { chromium } from 'playwright-core';

const [page_, out, height = '2400'] = process.argv.slice(2);
if (!page_ || !out) throw new Error('usage: screenshot.ts PAGE.html OUT.png [height]');
const browser = await chromium.launch({
  executablePath: process.env.UAP_CHROMIUM ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: Number(height) } });
await page.goto(`file://${path.resolve(page_)}`);
await page.screenshot({ path: out });
await browser.close();
console.error(`wrote ${out}`);
