/**
 * A long-lived service (the app runs for days): the live list keeps only the latest finished
 * runs, so memory and the page's refresh payload stay bounded, while the store keeps every run.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ApiService } from '../../engine/app/api-service.js';
import { until } from '../helpers/ranks.js';
import { tempHome } from '../helpers/runs.js';
import { nano } from './helpers.js';

const { home, cleanup } = tempHome();
afterAll(cleanup);

describe('a long-lived service', () => {
  it('forgets old finished runs from the live list, never from the store', async () => {
    const service = new ApiService({ home, keepFinishedLive: 1 });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { id } = await service.startRun({ profile: nano(`live-${i}`, 1) });
      ids.push(id);
      await until(() => !service.busy, 30_000, `run ${i} to end`);
      // The run-end bookkeeping settles just after the last event.
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await service.liveRuns()).map((r) => [r.id, r.status])).toEqual([
      [ids[2], 'completed'],
    ]);
    const listed = await service.listRuns();
    for (const id of ids) expect(listed.find((r) => r.id === id)?.status).toBe('completed');
    await expect(service.cancelRun(ids[0])).rejects.toThrow(/is not running in this app/);
    // Rank logs keep the rank's output and step records, not the once-a-second heartbeats.
    const logs = await service.rankLogs(ids[2]);
    expect(logs.map((l) => l.rank)).toEqual([0, 1]);
    for (const l of logs) {
      expect(l.text).toContain('"ev":"step"');
      expect(l.text).not.toContain('"ev":"alive"');
    }
  });
});
