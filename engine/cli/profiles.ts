/** `gradbench profiles ...`: list, show, validate, save, delete and export profiles. */
import { table } from '../util/format.js';
import { dataHome } from '../util/home.js';
import { ProfilesStore, readProfileFile } from '../app/profiles-store.js';
import { UsageError } from './help.js';
import { emit, json, parse, print } from './args.js';

export async function profilesCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const store = new ProfilesStore(dataHome());
  switch (sub) {
    case 'list':
      return profilesList(store, rest);
    case 'show': {
      const { positionals } = parse(
        rest,
        {},
        { min: 1, max: 1, usage: 'gradbench profiles show <name>' },
      );
      print(await store.exportJson(positionals[0]));
      return 0;
    }
    case 'validate': {
      const usage = 'gradbench profiles validate <file.json>';
      const [file] = parse(rest, {}, { min: 1, max: 1, usage }).positionals;
      await readProfileFile(file);
      print(`${file}: valid`);
      return 0;
    }
    case 'save': {
      const usage = 'gradbench profiles save <file.json>';
      const [file] = parse(rest, {}, { min: 1, max: 1, usage }).positionals;
      const saved = await store.save(await readProfileFile(file));
      print(`saved profile "${saved.profile.name}" to ${saved.file}`);
      return 0;
    }
    case 'delete': {
      const usage = 'gradbench profiles delete <name>';
      const [name] = parse(rest, {}, { min: 1, max: 1, usage }).positionals;
      print(`deleted profile "${name}" (${await store.delete(name)})`);
      return 0;
    }
    case 'export': {
      const usage = 'gradbench profiles export <name> [file]';
      const [name, file] = parse(rest, {}, { min: 1, max: 2, usage }).positionals;
      await emit(await store.exportJson(name), file, `profile "${name}"`);
      return 0;
    }
    default:
      throw new UsageError(
        `${sub ? `unknown profiles command "${sub}"` : 'missing profiles command'}; use list, show, validate, save, delete or export`,
      );
  }
}

async function profilesList(store: ProfilesStore, args: string[]): Promise<number> {
  const { values } = parse(
    args,
    { json },
    { min: 0, max: 0, usage: 'gradbench profiles list [--json]' },
  );
  const entries = await store.list();
  if (values.json) {
    print(JSON.stringify(entries, null, 2));
    return 0;
  }
  const rows = entries.map((e) => {
    const p = e.profile;
    const model = p
      ? 'preset' in p.model
        ? p.model.preset
        : `${p.model.layers}x${p.model.dModel}`
      : '';
    const methods = p
      ? [...(p.baseline ? ['fsdp'] : []), ...p.methods.map((m) => m.id)].join(',')
      : '';
    const world = p ? `${p.parallel.worldSize}/${p.parallel.nodes}` : '';
    return [
      e.name,
      e.builtin ? 'built-in' : 'saved',
      model,
      world,
      methods,
      e.error ? `ERROR: ${e.error.split('\n')[0]}` : (e.description ?? ''),
    ];
  });
  print(
    table(['NAME', 'SOURCE', 'MODEL', 'RANKS/NODES', 'METHODS', 'DESCRIPTION'], rows, {
      maxWidth: 70,
    }),
  );
  // The table cuts long cells; a damaged file's path and reason are printed whole.
  for (const e of entries.filter((x) => x.error)) process.stderr.write(`gradbench: ${e.error}\n`);
  return 0;
}
