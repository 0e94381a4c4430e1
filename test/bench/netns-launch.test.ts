/**
 * The launcher's per-rank placement on real network namespaces: 2 ranks, one per namespace,
 * linked through a tc-shaped veth bridge, train 2 steps of nano. Skipped where namespaces are
 * unavailable (not root, no `ip netns`). Needs the compiled engine (npm run build:engine).
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { startRun } from '../../engine/app/launcher.js';
import { parseProfile } from '../../engine/run/profile.js';
import { RunsStore } from '../../engine/app/runs-store.js';
import { netnsUnavailableReason, withHosts } from '../../benchmarks/netns/netns-hosts.js';
import { tempHome } from '../helpers/runs.js';

const unavailable = netnsUnavailableReason();
const namespaceOf = (pid: number): string =>
  execFileSync('ip', ['netns', 'identify', String(pid)])
    .toString()
    .trim();

describe.skipIf(unavailable !== undefined)('ranks in network namespaces', () => {
  it('trains across two namespaces and removes them afterwards', async () => {
    const { home, cleanup } = tempHome();
    const link = { gbps: 0.2, latencyUs: 100 };
    const profile = parseProfile({
      name: 'netns-smoke',
      model: { preset: 'nano' },
      train: { steps: 2, batchPerRank: 2 },
      parallel: { worldSize: 2, nodes: 2 },
      network: { intra: 'off', inter: link, emulate: false },
    });
    const seen: string[] = [];
    let names: string[] = [];
    try {
      const summary = await withHosts(2, link, async (hosts) => {
        names = hosts.namespaces;
        expect(hosts.qdiscs).toContain('tbf');
        const handle = await startRun(profile, {
          home,
          placement: hosts.placement(1),
          onEvent: (e) => {
            if (e.type === 'ranks-started') seen.push(...e.pids.map(namespaceOf));
          },
        });
        const s = await handle.done;
        const detail = await new RunsStore(home).get(handle.id);
        expect(new Set(detail.metrics.map((l) => l.rank))).toEqual(new Set([0, 1]));
        return s;
      });
      expect(summary.status, summary.error).toBe('completed');
      expect(seen).toEqual(names);
      const left = execFileSync('ip', ['netns', 'list']).toString();
      for (const n of names) expect(left).not.toContain(n);
    } finally {
      cleanup();
    }
  }, 30_000);
});

describe.skipIf(unavailable === undefined)('without network namespaces', () => {
  it('explains why the netns path is skipped', () => {
    expect(unavailable).toMatch(/root|Linux|ip netns/);
  });
});
