/**
 * The app end to end in a real browser: Debian's chromium driven by playwright-core against the
 * `gradbench serve` bridge, with real rank processes behind it. Writes a screenshot of every page
 * (1280x800) into docs/screenshots/.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiService } from '../../engine/app/api-service.js';
import { startBridge, type Bridge } from '../../engine/app/bridge.js';
import { STEPS_CSV_COLUMNS, SUMMARY_CSV_COLUMNS } from '../../engine/app/csv.js';
import { RENDERER_DIR } from '../../engine/app/serve-command.js';
import { packageRoot } from '../../engine/runtime-path.js';
import { probeTorch } from '../../engine/torch/probe.js';
import { parseCsv } from '../app/helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  const msg = `UI tests need chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`;
  if (process.env.CI) throw new Error(msg);
  console.warn(`skipping: ${msg}`);
}
const torch = haveChromium ? await probeTorch() : undefined;
if (torch && !torch.available) console.warn(`skipping the PyTorch run: ${torch.reason}`);
const SHOTS = path.join(packageRoot, 'docs', 'screenshots');
const STEPS = 6;

let browser: Browser;
let page: Page;
let bridge: Bridge;
let service: ApiService;
let home: string;

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

async function go(nav: string): Promise<void> {
  await page.click(`[data-nav=${nav}]`);
  await page.waitForSelector(`[data-page=${nav}]`);
}

/** Text of a field's inline error, once it appears. */
const fieldError = (field: string) => page.locator(`.field[data-field="${field}"] .field-error`);

describe.skipIf(!haveChromium)('GradBench in a browser', () => {
  beforeAll(async () => {
    if (!existsSync(path.join(RENDERER_DIR, 'index.html')))
      throw new Error(`${RENDERER_DIR} is missing: run "npm run build" before the UI tests`);
    await mkdir(SHOTS, { recursive: true });
    // One data directory for the whole file: the tests build on each other like a user session.
    home = await mkdtemp(path.join(os.tmpdir(), 'gradbench-e2e-'));
    service = new ApiService({ home, runOptions: { stallTimeoutMs: 60_000, cancelGraceMs: 1000 } });
    bridge = await startBridge({ service, staticDir: RENDERER_DIR });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    page.setDefaultTimeout(30_000);
    await page.goto(bridge.openUrl);
    await page.waitForSelector('[data-page=hardware] [data-card=cpu]');
  }, 60_000);

  afterAll(async () => {
    await service?.cancelAll();
    await browser?.close();
    await bridge?.close();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('shows the hardware and drops the token from the address bar', async () => {
    expect((await page.textContent('[data-card=cpu] .big'))?.trim()).not.toBe('');
    expect(await page.locator('[data-card=backends] tbody tr').count()).toBeGreaterThanOrEqual(2);
    expect(page.url()).not.toContain('token=');
    await shot('hardware');
  });

  it('creates a profile, flags an invalid field inline, saves it and finds it after a reload', async () => {
    await go('profiles');
    await page.click('[data-action=new-profile]');
    await page.fill('input[name=name]', 'e2e two methods');
    await page.fill('input[name="train.steps"]', '0');
    await expect.poll(() => fieldError('train.steps').count()).toBeGreaterThan(0);
    expect(await fieldError('train.steps').first().textContent()).toMatch(/>=\s*1|too small/i);
    // A save with the invalid field is refused and writes nothing.
    await page.click('[data-action=save-profile]');
    await page.waitForSelector('.banner.error');
    expect((await service.listProfiles()).map((p) => p.name)).not.toContain('e2e two methods');

    await page.fill('input[name="train.steps"]', String(STEPS));
    await page.fill('input[name="parallel.worldSize"]', '2');
    await page.fill('input[name="train.batchPerRank"]', '4');
    for (const id of ['fp16', 'topk']) {
      await page.selectOption('select[name=add-method]', id);
      await page.click('.add-method button');
    }
    await page.fill('input[name="methods.1.params.ratio"]', '0.05');
    await expect.poll(() => page.locator('.field-error').count()).toBe(0);
    await page.click('[data-action=save-profile]');
    await page.waitForSelector('.banner.ok');
    await page.reload();
    await page.waitForSelector('[data-page=profiles]');
    const item = page.locator('[data-profile="e2e two methods"]');
    await item.waitFor();
    await item.click();
    expect(await page.inputValue('input[name="train.steps"]')).toBe(String(STEPS));
    expect(await page.locator('.method-card').count()).toBe(2);
    await shot('profiles');
  });

  it('starts a 2-rank run with two methods and shows its progress live', async () => {
    await page.click('text=Open in run designer');
    await page.waitForSelector('[data-page=run] input[name=name]');
    expect(await page.inputValue('input[name=name]')).toBe('e2e two methods');
    await shot('run-designer');
    await page.click('[data-action=start-run]');
    await page.waitForSelector('[data-page=live]');
    // Progress arrives as events: the step counters move while the run is going.
    const seen = new Set<string>();
    const counters = page.locator('[data-testid=step-count]');
    const deadline = Date.now() + 120_000;
    let reloaded = false;
    while (Date.now() < deadline) {
      seen.add((await counters.allTextContents()).join(' '));
      if ((await page.textContent('[data-testid=run-status]')) !== 'running') break;
      if (!reloaded && seen.size >= 3) {
        // The run belongs to the server, not the page: a reload finds it still going.
        reloaded = true;
        await page.reload();
        await page.waitForSelector('[data-page=live] [data-testid=run-status]');
      }
      await page.waitForTimeout(100);
    }
    expect(reloaded).toBe(true);
    expect(await page.textContent('[data-testid=run-status]')).toBe('completed');
    expect(seen.size).toBeGreaterThanOrEqual(3);
    expect(await counters.allTextContents()).toEqual([
      `${STEPS}/${STEPS}`,
      `${STEPS}/${STEPS}`,
      `${STEPS}/${STEPS}`,
    ]);
    await shot('live');
  }, 150_000);

  it('shows the speedup chart and exports per-step and summary CSV', async () => {
    await page.click('[data-action=open-results]');
    await page.waitForSelector('[data-page=results] .summary-table tbody tr');
    expect(await page.locator('.summary-table tbody tr').count()).toBe(3);
    const chart = page.locator('[data-chart=speedup] canvas');
    await chart.waitFor();
    expect((await chart.boundingBox())!.width).toBeGreaterThan(200);
    await shot('results');

    // The projection panel: every method predicted on the run's own links, then on a preset.
    const projected = page.locator('[data-panel=projection] .projection-table tbody tr');
    await expect.poll(() => projected.count(), { timeout: 30_000 }).toBe(3);
    expect(await page.textContent('[data-panel=projection] thead')).toMatch(/error/);
    await page.selectOption('select[name=projection-cluster]', 'dgx-a100-ib200');
    await expect
      .poll(() => page.textContent('[data-panel=projection]'), { timeout: 30_000 })
      .toMatch(/32\s+ranks on 4 node/);

    const [steps] = await Promise.all([
      page.waitForEvent('download'),
      page.click('[data-action=export-steps]'),
    ]);
    expect(steps.suggestedFilename()).toMatch(/-steps\.csv$/);
    const rows = parseCsv(await readFile((await steps.path())!, 'utf8'));
    expect(rows[0]).toEqual([...STEPS_CSV_COLUMNS]);
    expect(rows.length - 1).toBe(3 * STEPS);
    const methodCol = rows[0].indexOf('method');
    expect(new Set(rows.slice(1).map((r) => r[methodCol]))).toEqual(
      new Set(['fsdp', 'fp16', 'topk']),
    );
    expect(rows.slice(1).every((r) => r[rows[0].indexOf('ranks')] === '2')).toBe(true);

    const [summary] = await Promise.all([
      page.waitForEvent('download'),
      page.click('[data-action=export-summary]'),
    ]);
    const srows = parseCsv(await readFile((await summary.path())!, 'utf8'));
    expect(srows[0]).toEqual([...SUMMARY_CSV_COLUMNS]);
    expect(srows.length - 1).toBe(3);
  });

  it('cancels a running benchmark and marks it cancelled', async () => {
    await go('run');
    await page.selectOption('select[name=base-profile]', 'e2e two methods');
    await page.fill('input[name="train.steps"]', '5000');
    await page.click('[data-action=start-run]');
    await page.waitForSelector('[data-page=live] [data-action=cancel-run]');
    await expect
      .poll(
        async () => (await page.locator('[data-testid=step-count]').first().textContent()) ?? '',
        { timeout: 60_000 },
      )
      .toMatch(/^[1-9]\d*\//);
    await page.click('[data-action=cancel-run]');
    await expect
      .poll(() => page.textContent('[data-testid=run-status]'), { timeout: 30_000 })
      .toBe('cancelled');
    await go('history');
    await page.waitForSelector('.history-table [data-status=cancelled]');
    await page.fill('input[name=history-filter]', 'e2e');
    expect(await page.locator('.history-table tbody tr').count()).toBe(2);
    await shot('history');
  }, 120_000);

  it.skipIf(!torch?.available)(
    'runs a PyTorch profile and shows it beside the built-in runs',
    async () => {
      await go('hardware');
      // The first scan may have given up on a slow torch import (its deadline); the probe goes on
      // and a re-scan finds it.
      const options = page.locator('[data-card=pytorch] [data-option=fsdp]');
      const deadline = Date.now() + 90_000;
      while (!(await options.count()) && Date.now() < deadline) {
        await page.click('[data-page=hardware] .page-head button');
        await page.waitForTimeout(3000);
      }
      expect(await page.textContent('[data-card=pytorch] [data-option=int8]')).toMatch(/yes/);
      await shot('hardware-pytorch');
      await go('run');
      await page.selectOption('select[name=base-profile]', 'e2e two methods');
      await page.fill('input[name=name]', 'e2e pytorch');
      await page.selectOption('select[name=engine]', 'pytorch');
      await page.selectOption('select[name="parallel.sharding"]', 'NO_SHARD');
      await page.fill('input[name="train.steps"]', '3');
      await expect.poll(() => page.locator('.field-error').count()).toBe(0);
      await page.click('[data-action=start-run]');
      await page.waitForSelector('[data-page=live]');
      await expect
        .poll(() => page.textContent('[data-testid=run-status]'), { timeout: 150_000 })
        .toBe('completed');
      await page.click('[data-action=open-results]');
      await page.waitForSelector('[data-page=results] .summary-table tbody tr');
      expect(await page.textContent('[data-field=engine]')).toBe('pytorch engine');
      expect(await page.locator('.summary-table tbody tr').count()).toBe(3);
      const builtin = (await service.listRuns()).find((r) => r.engine === 'builtin')!;
      await page.selectOption('select[name=compare-run]', builtin.id);
      await expect
        .poll(() => page.locator('[data-field=engine]').allTextContents())
        .toEqual(['pytorch engine', 'builtin engine']);
      await shot('results-engines');
      await go('history');
      await page.fill('input[name=history-filter]', 'e2e');
      await expect
        .poll(() => page.locator('.history-table [data-col=engine]').allTextContents())
        .toEqual(['pytorch', 'builtin', 'builtin']);
    },
    200_000,
  );
});
