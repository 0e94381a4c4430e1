/**
 * Health warnings in a real browser: a 2-rank run whose method is forced to emit NaN shows the
 * warning (method, step, rank, layer) on the Live page and again on the Results page.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiService } from '../../engine/app/api-service.js';
import { startBridge, type Bridge } from '../../engine/app/bridge.js';
import { RENDERER_DIR } from '../../engine/cli/serve.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);

describe.skipIf(!haveChromium && !process.env.CI)('health warnings in the app', () => {
  let browser: Browser | undefined;
  let bridge: Bridge | undefined;
  let service: ApiService | undefined;
  let home: string | undefined;

  afterAll(async () => {
    await service?.cancelAll();
    await browser?.close();
    await bridge?.close();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('lists the NaN warning with its step, rank and layer on the Live and Results pages', async () => {
    if (!existsSync(path.join(RENDERER_DIR, 'index.html')))
      throw new Error(`${RENDERER_DIR} is missing: run "npm run build" before the UI tests`);
    home = await mkdtemp(path.join(os.tmpdir(), 'gradbench-e2e-health-'));
    service = new ApiService({ home, runOptions: { env: { GRADBENCH_FAULT: 'nan:1:2' } } });
    bridge = await startBridge({ service, staticDir: RENDERER_DIR });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(60_000);
    await page.goto(bridge.openUrl);
    await service.startRun({
      profile: {
        name: 'e2e health',
        model: { preset: 'nano' },
        train: { steps: 4, batchPerRank: 2 },
        parallel: { worldSize: 2 },
      },
    });
    await page.click('[data-nav=live]');
    const row = (scope: string) =>
      page.locator(`[data-page=${scope}] [data-testid=health-warning][data-kind=nan]`);
    await row('live').waitFor();
    const cells = async (scope: string) => row(scope).locator('td').allTextContents();
    expect((await cells('live')).slice(0, 4).map((c) => c.trim())).toEqual([
      'FSDP (fp32)',
      '3',
      '1',
      'block0 (mlp.wproj)',
    ]);
    await page.waitForSelector('[data-testid=run-status]:text("completed")');
    await page.click('[data-action=open-results]');
    await row('results').waitFor();
    expect((await cells('results')).slice(0, 4).map((c) => c.trim())).toEqual([
      'FSDP (fp32)',
      '3',
      '1',
      'block0 (mlp.wproj)',
    ]);
    expect((await page.textContent('.summary-table td.health-count'))?.trim()).toBe('1');
  }, 120_000);
});
