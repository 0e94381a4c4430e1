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
import { OTHER_CPU_WARN_SHARE } from '../../engine/app/load-warning.js';
import { RENDERER_DIR } from '../../engine/cli/serve.js';
import { packageRoot } from '../../engine/util/runtime-path.js';
import { probeTorch } from '../../engine/torch/probe.js';
import { parseCsv } from '../app/helpers.js';
import { VERDICT_COLOR, speedupText, speedupVerdict } from '../../renderer/src/charts.js';

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
/** The methods' colours on the Live page, to compare with the Results page's. */
let liveColors: Record<string, string> = {};

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

async function go(nav: string): Promise<void> {
  await page.click(`[data-nav=${nav}]`);
  await page.waitForSelector(`[data-page=${nav}]`);
}

/** Text of a field's inline error, once it appears. */
const fieldError = (field: string) => page.locator(`.field[data-field="${field}"] .field-error`);

/** Per series (or per bar of a one-series bar chart): name -> colour, as the chart holds them. */
async function chartColors(chart: string): Promise<Record<string, string>> {
  return page.$eval(`[data-chart=${chart}]`, (el) => {
    type Opt = {
      series: {
        name: string;
        color?: string;
        data: { value: unknown; itemStyle?: { color: string } }[];
      }[];
      yAxis: { data?: string[] }[];
      xAxis: { data?: string[] }[];
    };
    const o = (el as unknown as { chartOption: () => Opt }).chartOption();
    const s = o.series[0];
    if (s.color) return Object.fromEntries(o.series.map((x) => [x.name, x.color!]));
    const names = o.yAxis[0].data ?? o.xAxis[0].data ?? [];
    return Object.fromEntries(names.map((n, i) => [n, s.data[i]?.itemStyle?.color ?? '']));
  });
}

/** The id of the run the Results page shows. */
const runIdShown = async (): Promise<string> =>
  (await page.getAttribute('[data-page=results] .run-block', 'data-run'))!;

/** Cells with a text that runs over more than one line (a figure cut from its unit). */
const wrappedCells = (selector: string) =>
  page.$$eval(selector, (cells) =>
    cells
      .filter((c) => {
        const texts = document.createTreeWalker(c, NodeFilter.SHOW_TEXT);
        for (let t = texts.nextNode(); t; t = texts.nextNode()) {
          const r = document.createRange();
          r.selectNodeContents(t);
          if (new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size > 1) return true;
        }
        return false;
      })
      .map((c) => c.textContent?.trim()),
  );

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

  it('says what to do next on pages with nothing to show yet', async () => {
    await go('results');
    expect(await page.textContent('[data-testid=page-empty]')).toMatch(/No runs yet/);
    await go('live');
    expect(await page.textContent('[data-testid=page-empty]')).toMatch(/No run started/);
    await page.click('[data-testid=page-empty] button');
    await page.waitForSelector('[data-page=run]');
  });

  it("shows a problem one field makes for another at once, on that field, in the form's words", async () => {
    await go('run');
    await page.waitForSelector('input[name="parallel.worldSize"]');
    await page.selectOption('select[name=base-profile]', 'default');
    // The default profile runs 2 nodes; 3 ranks cannot be shared between them.
    expect(await page.inputValue('input[name="parallel.nodes"]')).toBe('2');
    await page.fill('input[name="parallel.worldSize"]', '3');
    // Only World size was edited; Nodes is marked, without a save or start being tried.
    await expect.poll(() => fieldError('parallel.nodes').count()).toBe(1);
    expect(await fieldError('parallel.nodes').textContent()).toMatch(
      /2 nodes cannot share 3 ranks evenly: use 1 or 3 nodes/,
    );
    expect(await page.textContent('[data-page=run]')).not.toMatch(/worldSize/);
    await page.fill('input[name="parallel.worldSize"]', '4');
    await expect.poll(() => fieldError('parallel.nodes').count()).toBe(0);

    // The PyTorch engine's own rules (from the engine's profile check) mark the fields concerned.
    await page.selectOption('select[name="parallel.sharding"]', 'FULL_SHARD');
    await page.check('input[name="network.emulate"]');
    await page.selectOption('select[name=engine]', 'pytorch');
    await expect.poll(() => fieldError('parallel.sharding').count()).toBe(1);
    expect(await fieldError('parallel.sharding').textContent()).toMatch(/choose NO_SHARD/);
    expect(await fieldError('network.emulate').textContent()).toMatch(/untick Emulate links/);
    expect(await page.getAttribute('select[name="parallel.sharding"]', 'aria-invalid')).toBe(
      'true',
    );
    await page.selectOption('select[name="parallel.sharding"]', 'NO_SHARD');
    await page.uncheck('input[name="network.emulate"]');
    await expect.poll(() => fieldError('parallel.sharding').count()).toBe(0);
    await expect.poll(() => fieldError('network.emulate').count()).toBe(0);
    // Without emulation the links do not apply, and the summary says so.
    expect(await page.isDisabled('select[name="network.intra"]')).toBe(true);
    expect(await page.isDisabled('select[name="network.inter"]')).toBe(true);
    const note = await page.textContent('[data-page=run] .toolbar');
    expect(note).toMatch(/on 2 nodes \(links not emulated\)/);
    expect(note).not.toMatch(/emulated node/);
  });

  it('creates a profile, flags an invalid field inline, saves it and finds it after a reload', async () => {
    await go('profiles');
    await page.click('[data-action=new-profile]');
    await page.waitForSelector('input[name="train.steps"]');
    // A brand-new form has an empty name, yet nothing is flagged before it is touched.
    expect(await page.locator('.field-error, .issue-count, .banner.error').count()).toBe(0);
    expect(await page.textContent('.profile-form')).not.toMatch(/batchPerRank|warmupSteps/);
    // Nothing saved yet: nothing to duplicate, export or open in the designer.
    for (const action of ['Duplicate', 'Export JSON', 'Open in run designer'])
      expect(await page.locator(`[data-page=profiles] button:text-is("${action}")`).count()).toBe(
        0,
      );

    await page.fill('input[name="train.steps"]', '0');
    await page.locator('input[name="train.steps"]').blur();
    await expect.poll(() => fieldError('train.steps').count()).toBe(1);
    expect(await fieldError('train.steps').textContent()).toBe('must be 1 or more');
    // The draft has been checked (that message came from it): the untouched name stays quiet.
    expect(await fieldError('name').count()).toBe(0);
    expect(await page.textContent('.issue-count')).toBe('1 field to fix');
    const steps = page.locator('input[name="train.steps"]');
    expect(await steps.getAttribute('aria-invalid')).toBe('true');
    expect(await steps.getAttribute('aria-describedby')).toBe(
      await fieldError('train.steps').getAttribute('id'),
    );
    // A save with invalid fields is refused, writes nothing, and shows every problem (the name too).
    await page.click('[data-action=save-profile]');
    await page.waitForSelector('[data-testid=save-blocked]');
    expect(await page.textContent('[data-testid=save-blocked]')).toMatch(/2 fields to fix/);
    expect(await fieldError('name').textContent()).toBe(
      'Name is required: type a name for the profile',
    );
    // The count is given once, in the banner, not again beside the Save button.
    expect((await page.textContent('.detail-pane'))!.match(/to fix/g)).toHaveLength(1);
    expect(await page.locator('.issue-count').count()).toBe(0);
    expect((await service.listProfiles()).map((p) => p.name)).not.toContain('e2e two methods');

    // Each fix clears its message, and the banner goes with the last one.
    await page.fill('input[name=name]', 'e2e two methods');
    await expect.poll(() => fieldError('name').count()).toBe(0);
    await page.fill('input[name="train.steps"]', String(STEPS));
    await expect.poll(() => page.locator('[data-testid=save-blocked]').count()).toBe(0);
    expect(await steps.getAttribute('aria-invalid')).toBeNull();
    // One node of two ranks on loopback: the default profile's 2-node emulated link would make
    // this run slow for a test of the pages.
    await page.fill('input[name="parallel.worldSize"]', '2');
    await page.fill('input[name="parallel.nodes"]', '1');
    await page.fill('input[name="train.batchPerRank"]', '4');
    // The form starts from the default profile; this run compares exactly fp16 and top-k.
    while ((await page.locator('.method-card').count()) > 0)
      await page.locator('.method-card header button').first().click();
    for (const id of ['fp16', 'topk']) {
      await page.selectOption('select[name=add-method]', id);
      await page.click('.add-method button');
    }
    await page.fill('input[name="methods.1.params.ratio"]', '0.05');
    // Method parameters read as words, and an integer's technical limit is not shown as one:
    // TAGC has camel-cased keys and an integer field bounded only by the number type.
    await page.selectOption('select[name=add-method]', 'tagc');
    await page.click('.add-method button');
    const tagc = page.locator('.method-card[data-method=tagc]');
    expect(await tagc.textContent()).toMatch(/Sparsify fraction.*Min size/s);
    const paramLabels = await page.$$eval('.method-card .field-label', (ls) =>
      ls.map((l) => l.textContent!.trim()),
    );
    expect(paramLabels.filter((l) => /[a-z][A-Z]/.test(l))).toEqual([]);
    expect(await page.textContent('.profile-form')).not.toContain(String(Number.MAX_SAFE_INTEGER));
    await tagc.locator('header button').click();
    expect(await page.locator('.method-card').count()).toBe(2);
    await expect.poll(() => page.locator('.field-error').count()).toBe(0);
    await page.click('[data-action=save-profile]');
    await page.waitForSelector('.banner.ok');
    expect(await page.locator('[data-page=profiles] button:text-is("Duplicate")').count()).toBe(1);
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
    // Methods waiting their turn show their step count, never "?".
    expect([...seen].join(' ')).not.toContain('?');
    expect(await page.textContent('.progress-table thead')).toMatch(/last step time/);
    // Live shows the latest step's loss, and says so (Results gives the mean of the last 5).
    expect(await page.textContent('.progress-table thead')).toMatch(/last step's loss/);
    // Every column is named, the time left too.
    for (const th of await page.locator('.progress-table thead th').allTextContents())
      expect(th.trim()).not.toBe('');
    expect(await page.textContent('.progress-table thead')).toMatch(/time left/);
    // Methods read by their catalog label, as in the run designer, never by their raw id.
    expect(await page.textContent('.progress-table tbody')).toContain('top-k');
    expect(await page.textContent('.progress-table tbody')).not.toMatch(/\btopk\b/);
    liveColors = await chartColors('live-loss');
    // The busy-machine warning lists exactly the methods measured under load.
    const liveId = (await page.textContent('[data-page=live] .toolbar code'))!.trim();
    const measured = (await service.getRun(liveId)).summary!.methods;
    expect(await page.locator('[data-page=live] [data-testid=load-warning] li').count()).toBe(
      measured.filter((m) => m.otherCpuShare! >= OTHER_CPU_WARN_SHARE).length,
    );
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

    // The speedup view: a line at 1.0, each bar labelled with its value and faster or slower.
    const speedup = await page.$eval('[data-chart=speedup]', (el) => {
      type Bar = { value: number; label: { formatter: string; color: string } };
      const o = (
        el as unknown as {
          chartOption: () => {
            series: { markLine?: { data: { xAxis: number }[] }; data: Bar[] }[];
          };
        }
      ).chartOption();
      return {
        line: o.series[0].markLine?.data.map((d) => d.xAxis),
        bars: o.series[0].data.map((d) => [d.value, d.label.formatter, d.label.color]),
      };
    });
    expect(speedup.line).toEqual([1]);
    expect(speedup.bars).toHaveLength(2);
    for (const [value, text, color] of speedup.bars as [number, string, string][]) {
      expect(text).toBe(speedupText(value));
      expect(color).toBe(VERDICT_COLOR[speedupVerdict(value)]);
    }
    // bf16 FSDP was not measured: no column for it, and a note saying how to get it.
    expect(await page.textContent('.summary-table thead')).not.toMatch(/bf16/);
    expect(await page.textContent('[data-testid=bf16-note]')).toMatch(/baselines/);

    // One colour per method in every chart and in the table; the baseline's line dashed.
    const tableColors = await page.$$eval('.summary-table tbody tr', (rows) =>
      Object.fromEntries(
        rows.map((r) => [
          r.querySelector('td')!.textContent!.trim(),
          getComputedStyle(r.querySelector('.swatch')!).backgroundColor,
        ]),
      ),
    );
    const toRgb = (hex: string): string =>
      `rgb(${[1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(', ')})`;
    const loss = await chartColors('loss-step');
    expect(Object.keys(loss).sort()).toEqual(['FSDP (fp32)', 'fp16', 'top-k']);
    expect(new Set(Object.values(loss)).size).toBe(3);
    expect(loss).toEqual(liveColors);
    for (const chartName of ['loss-wall', 'wire-bytes', 'compression-ratio', 'speedup']) {
      for (const [name, color] of Object.entries(await chartColors(chartName)))
        if (name in loss) expect(color, `${name} in ${chartName}`).toBe(loss[name]);
    }
    for (const [name, color] of Object.entries(loss)) expect(tableColors[name]).toBe(toRgb(color));
    const dash = await page.$eval('[data-chart=loss-step]', (el) =>
      (
        el as unknown as {
          chartOption: () => { series: { name: string; lineStyle: { type: string } }[] };
        }
      )
        .chartOption()
        .series.map((x) => [x.name, x.lineStyle.type]),
    );
    expect(Object.fromEntries(dash)).toMatchObject({ 'FSDP (fp32)': 'dashed', fp16: 'solid' });
    // fp16's loss equals FSDP's step for step: the baseline is a wider band drawn under it.
    const widths = await page.$eval('[data-chart=loss-step]', (el) =>
      Object.fromEntries(
        (
          el as unknown as {
            chartOption: () => { series: { name: string; lineStyle: { width: number } }[] };
          }
        )
          .chartOption()
          .series.map((x) => [x.name, x.lineStyle.width]),
      ),
    );
    expect(widths['FSDP (fp32)']).toBeGreaterThan(widths.fp16);
    // What "final loss" means is on the page, not only in a tooltip.
    expect(await page.textContent('[data-testid=loss-note]')).toMatch(
      /Final loss: the mean loss of the last 5 steps/,
    );

    // Timings taken while other processes used the CPU are flagged with the figure.
    const summaries = (await service.getRun(await runIdShown())).summary!.methods;
    for (const m of summaries) expect(m.otherCpuShare).toBeGreaterThanOrEqual(0);
    const busy = summaries.filter((m) => m.otherCpuShare! >= OTHER_CPU_WARN_SHARE);
    const warning = page.locator('[data-page=results] [data-testid=load-warning] li');
    expect(await warning.count()).toBe(busy.length);
    for (const m of busy)
      expect(await warning.allTextContents()).toContainEqual(
        expect.stringContaining(
          `${m.label}: other processes used ${Math.round(100 * m.otherCpuShare!)} %`,
        ),
      );
    await shot('results');

    // At 1024 px the figures keep their units on one line and nothing runs off the page.
    await page.setViewportSize({ width: 1024, height: 700 });
    await page.waitForFunction(
      () => document.querySelector('[data-chart=speedup] canvas')!.clientWidth < 900,
    );
    expect(await wrappedCells('.summary-table td')).toEqual([]);
    expect(await wrappedCells('.summary-table th')).toEqual([]);
    // ... and the whole table fits: no column hidden behind a scroll bar.
    expect(await page.$eval('.table-scroll', (el) => el.scrollWidth <= el.clientWidth)).toBe(true);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(
      1024,
    );
    await shot('results-1024');
    await page.setViewportSize({ width: 1280, height: 800 });

    // The projection panel: every method predicted on the run's own links, then on a preset.
    const projected = page.locator('[data-panel=projection] .projection-table tbody tr');
    await expect.poll(() => projected.count(), { timeout: 30_000 }).toBe(3);
    expect(await page.textContent('[data-panel=projection] thead')).toMatch(/error/);
    // Each method has its colour swatch, as in the summary table.
    expect(
      await page.locator('[data-panel=projection] .projection-table tbody .swatch').count(),
    ).toBe(3);
    // One node of two ranks: plain plurals, and no inter-node link listed for it.
    const measured = await page.textContent('[data-panel=projection] > p.muted');
    expect(measured).toMatch(/1 node x 2 ranks, intra loopback ·/);
    expect(measured).not.toMatch(/inter |\(s\)/);
    // The run measured no bf16 baseline: the panel says its "vs bf16" one is derived.
    expect(await page.textContent('[data-testid=bf16-source]')).toMatch(
      /derived from the fp32 baseline/,
    );
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
    // Steps are numbered the same way in the CSV and on the charts' axes.
    const firstCsvStep = Math.min(...rows.slice(1).map((r) => Number(r[rows[0].indexOf('step')])));
    const firstChartStep = await page.$eval('[data-chart=loss-step]', (el) =>
      Math.min(
        ...(el as unknown as { chartOption: () => { series: { data: [number, number][] }[] } })
          .chartOption()
          .series.flatMap((x) => x.data.map((p) => p[0])),
      ),
    );
    expect(firstChartStep).toBe(firstCsvStep);

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
    // Until the first step, the charts say they are waiting instead of showing bare axes.
    expect(await page.textContent('[data-chart=live-loss] [data-testid=chart-empty]')).toMatch(
      /Waiting for the first step/,
    );
    await expect
      .poll(
        async () => (await page.locator('[data-testid=step-count]').first().textContent()) ?? '',
        { timeout: 60_000 },
      )
      .toMatch(/^[1-9]\d*\//);
    // Results of the run while it goes: the progress Live shows, and a way back there.
    const runningId = (await page.textContent('[data-page=live] .toolbar code'))!.trim();
    await go('results');
    await page.selectOption('select[name=results-run]', runningId);
    await page.waitForSelector(`.run-block[data-run="${runningId}"] [data-testid=run-outcome]`);
    await expect
      .poll(() => page.textContent('[data-testid=run-outcome]'))
      .toMatch(/still running: FSDP \(fp32\) at step [1-9]\d* of 5000; fp16 waiting its turn/);
    expect(await page.textContent('.summary-table tbody tr[data-method=fsdp]')).toMatch(
      /[1-9]\d* of 5000/,
    );
    expect(await page.textContent('.summary-table tbody tr[data-method=fp16] .status')).toBe(
      'waiting',
    );
    expect(await page.textContent('[data-chart=speedup] [data-testid=chart-empty]')).toMatch(
      /FSDP baseline has not finished yet.*Follow it live/s,
    );
    await page.click('[data-action=open-live]');
    await page.waitForSelector('[data-page=live] [data-action=cancel-run]');
    // Cancelling asks first; the run goes on if the person keeps it.
    await page.click('[data-action=cancel-run]');
    await page.click('text=Keep running');
    expect(await page.textContent('[data-testid=run-status]')).toBe('running');
    await page.click('[data-action=cancel-run]');
    await page.click('[data-action=confirm-cancel]');
    await expect
      .poll(() => page.textContent('[data-testid=run-status]'), { timeout: 30_000 })
      .toBe('cancelled');
    // A cancel is what the person asked for: a notice, not an error.
    expect(await page.textContent('[data-testid=run-notice]')).toMatch(/^\s*Cancelled: 0 of 3/);
    expect(await page.locator('[data-page=live] .banner.error').count()).toBe(0);

    // Its results say what ran and why there is no speedup.
    await page.click('[data-action=open-results]');
    await expect
      .poll(() => page.textContent('[data-testid=run-outcome]'))
      .toMatch(/This run was cancelled: FSDP \(fp32\) cancelled after \d+ of 5000 steps/);
    expect(await page.textContent('[data-chart=speedup] [data-testid=chart-empty]')).toMatch(
      /FSDP baseline was cancelled/,
    );

    // Compared with the completed run: the same method in the same colour, each run with its own
    // dash and marker, one shared legend of methods and runs instead of one per chart.
    const completed = (await service.listRuns()).find((r) => r.status === 'completed')!;
    await page.selectOption('select[name=compare-run]', completed.id);
    await page.waitForSelector(`.run-block[data-run="${completed.id}"]`);
    const compared = await page.$eval('[data-chart=loss-step]', (el) => {
      type Opt = {
        legend: { show: boolean }[];
        series: { name: string; color: string; symbol: string; lineStyle: { type: unknown } }[];
      };
      const o = (el as unknown as { chartOption: () => Opt }).chartOption();
      return {
        legend: o.legend[0].show,
        series: o.series.map((x) => ({
          name: x.name,
          color: x.color,
          dash: JSON.stringify(x.lineStyle.type),
          symbol: x.symbol,
        })),
      };
    });
    expect(compared.legend).toBe(false);
    expect(compared.series).toHaveLength(4);
    expect(new Set(compared.series.map((x) => x.name)).size).toBe(4);
    const fsdpLines = compared.series.filter((x) => x.name.startsWith('FSDP (fp32) · run '));
    expect(fsdpLines).toHaveLength(2);
    expect(fsdpLines[0].color).toBe(fsdpLines[1].color);
    expect(fsdpLines[0].dash).not.toBe(fsdpLines[1].dash);
    expect(fsdpLines[0].symbol).not.toBe(fsdpLines[1].symbol);
    const topk = compared.series.find((x) => x.name === 'top-k · run 2')!;
    expect(topk.dash).toBe('"dotted"');
    const legend = page.locator('[data-testid=compare-legend]');
    expect(await legend.locator('[data-legend=methods] .legend-item').count()).toBe(3);
    expect(await legend.locator('[data-legend=runs] .legend-item').allTextContents()).toEqual([
      expect.stringMatching(/run 1: e2e two methods \w+ \(builtin\)/),
      expect.stringMatching(/run 2: e2e two methods \w+ \(builtin\)/),
    ]);
    expect(await page.locator('[data-testid=run-tag]').allTextContents()).toEqual([
      'run 1',
      'run 2',
    ]);
    // The speedups of the compared runs come before the runs' own tables.
    expect(
      await page.$eval('.speedup-chart', (chart) => {
        const first = document.querySelector('.run-block')!;
        return !!(chart.compareDocumentPosition(first) & Node.DOCUMENT_POSITION_FOLLOWING);
      }),
    ).toBe(true);
    await shot('results-compare');

    await go('history');
    await page.waitForSelector('.history-table [data-status=cancelled]');
    await page.fill('input[name=history-filter]', 'e2e');
    expect(await page.locator('.history-table tbody tr').count()).toBe(2);
    // The baseline reads as on the other pages; the row's buttons are big enough to touch.
    expect(await page.textContent('.history-table tbody')).toContain('FSDP (fp32), fp16, top-k');
    for (const box of await Promise.all(
      (await page.locator('.history-table tbody tr').first().locator('button').all()).map((b) =>
        b.boundingBox(),
      ),
    ))
      expect(box!.height).toBeGreaterThanOrEqual(32);
    /** The filter's placeholder width as drawn in its font, and the box it must fit in. */
    const filterHintWidth = () =>
      page.$eval('input[name=history-filter]', (el) => {
        const input = el as HTMLInputElement;
        const ctx = document.createElement('canvas').getContext('2d')!;
        ctx.font = getComputedStyle(input).font;
        return { text: ctx.measureText(input.placeholder).width, box: input.clientWidth };
      });
    // The filter's hint fits in the box.
    const hint = await filterHintWidth();
    expect(hint.text).toBeLessThan(hint.box);
    // At 1024 px every cell stays on one line: a long one is cut, with the whole in its title.
    await page.setViewportSize({ width: 1024, height: 700 });
    const cells = await page.$$eval('.history-table td:not(.actions)', (tds) =>
      tds.map((td) => {
        const style = getComputedStyle(td);
        const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.3;
        const range = document.createRange();
        range.selectNodeContents(td);
        return { text: td.textContent!.trim(), height: range.getBoundingClientRect().height, line };
      }),
    );
    expect(cells.length).toBeGreaterThan(0);
    for (const c of cells) expect(c.height, c.text).toBeLessThan(c.line * 1.5);
    // ...and the row's buttons stay on the page.
    const fit = await page.$eval('.history-table', (t) => ({
      right: t.getBoundingClientRect().right,
      page: document.documentElement.clientWidth,
    }));
    expect(fit.right).toBeLessThanOrEqual(fit.page);
    const narrow = await filterHintWidth();
    expect(narrow.text).toBeLessThan(narrow.box);
    await shot('history-1024');
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.fill('input[name=history-filter]', 'no such run');
    expect(await page.textContent('[data-testid=page-empty]')).toMatch(/No runs match/);
    await page.click('text=Clear the filter');
    await page.fill('input[name=history-filter]', 'e2e');
    await shot('history');
  }, 120_000);

  it('marks the speedup of a method stopped early as partial, with the step it reached', async () => {
    const base = (await service.listProfiles()).find((p) => p.name === 'e2e two methods')!;
    const run = await service.startRun({
      profile: {
        ...base.profile!,
        name: 'stopped early',
        train: { ...base.profile!.train, steps: 12 },
      },
    });
    // Cancel once a method after the baseline has taken a step.
    await expect
      .poll(
        async () => {
          const live = (await service.liveRuns()).find((r) => r.id === run.id)!;
          return live.methods.some((m) => m.key !== 'fsdp' && m.status === 'running' && m.step > 0);
        },
        { timeout: 120_000, interval: 50 },
      )
      .toBe(true);
    await service.cancelRun(run.id);
    await expect
      .poll(async () => (await service.listRuns()).find((r) => r.id === run.id)?.status, {
        timeout: 30_000,
      })
      .toBe('cancelled');
    await go('results');
    await page.selectOption('select[name=results-run]', run.id);
    await page.waitForSelector(`.run-block[data-run="${run.id}"] [data-testid=run-outcome]`);
    const bars = await page.$eval('[data-chart=speedup]', (el) => {
      type Bar = { label: { formatter: string }; itemStyle: { decal?: unknown } };
      const o = (
        el as unknown as { chartOption: () => { series: { data: Bar[] }[] } }
      ).chartOption();
      return o.series[0].data.map((d) => ({
        text: d.label.formatter,
        hatched: !!d.itemStyle.decal,
      }));
    });
    const stopped = bars.filter((b) => /partial/.test(b.text));
    expect(stopped).toHaveLength(1);
    expect(stopped[0].text).toMatch(/\npartial: cancelled at step \d+ of 12$/);
    expect(stopped[0].hatched).toBe(true);
    expect(bars.filter((b) => !/partial/.test(b.text)).every((b) => !b.hatched)).toBe(true);
    await shot('results-partial');
    // "1 of 12" in the steps column still fits at 1024 px, every header and cell on one line.
    await page.setViewportSize({ width: 1024, height: 700 });
    await page.waitForFunction(
      () => document.querySelector('[data-chart=speedup] canvas')!.clientWidth < 900,
    );
    expect(await wrappedCells('.summary-table th, .summary-table td')).toEqual([]);
    expect(await page.$eval('.table-scroll', (el) => el.scrollWidth <= el.clientWidth)).toBe(true);
    await page.setViewportSize({ width: 1280, height: 800 });
  }, 180_000);

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
      // gloo uses the real loopback: the base profile's emulated inter-node link is turned off.
      await page.uncheck('input[name="network.emulate"]');
      await page.fill('input[name="train.steps"]', '3');
      await expect.poll(() => page.locator('.field-error').count()).toBe(0);
      await page.click('[data-action=start-run]');
      await page.waitForSelector('[data-page=live]');
      await expect
        .poll(() => page.textContent('[data-testid=run-status]'), { timeout: 150_000 })
        .toBe('completed');
      const torchRun = (await page.textContent('[data-page=live] .toolbar code'))!.trim();
      await page.click('[data-action=open-results]');
      await page.waitForSelector(`.run-block[data-run="${torchRun}"] .summary-table tbody tr`);
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
