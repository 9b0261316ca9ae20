import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { agentConfigSchema } from '../../src/agent/agent-config.js';
import { appConfigSchema } from '../../src/config/app-config.js';
import { ROOT } from '../support/processes.js';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const section = readme.slice(
  readme.indexOf('## Configuration'),
  readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1),
);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}
const sources = sourceFiles(join(ROOT, 'src')).map((path) => readFileSync(path, 'utf8'));

/** The variables of each table of the README's configuration section, in row order. */
function tables(): string[][] {
  const result: string[][] = [];
  let current: string[] | null = null;
  for (const line of section.split('\n')) {
    const row = /^\| `([A-Z][A-Z0-9_]*)` \|/.exec(line);
    if (row) {
      current ??= [];
      current.push(row[1]!);
    } else if (current) {
      result.push(current);
      current = null;
    }
  }
  if (current) result.push(current);
  return result;
}

const documented = new Set(tables().flat());

describe("the README's configuration tables", () => {
  it('list every variable the control plane and the agent read', () => {
    const read = new Set([
      ...Object.keys(appConfigSchema.shape),
      ...Object.keys(agentConfigSchema.shape),
      ...sources.flatMap((text) => [...text.matchAll(/process\.env\.([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]!)),
    ]);
    expect([...read].filter((name) => !documented.has(name)).sort()).toEqual([]);
  });

  it('name no variable the code does not read', () => {
    const unused = [...documented].filter((name) => !sources.some((text) => new RegExp(`\\b${name}\\b`).test(text)));
    expect(unused).toEqual([]);
  });

  it('keep one row per variable, sorted by name within each section, so rows added in parallel merge cleanly', () => {
    for (const names of tables()) {
      expect(names).toEqual([...names].sort());
      expect(new Set(names).size).toBe(names.length);
    }
  });
});

describe('the README', () => {
  it('refers to nothing outside the repository', () => {
    expect(readme).not.toMatch(/DESIGN\.md|\bseeds?\b/i);
    for (const [, target] of readme.matchAll(/\]\(([^)#]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      expect(() => readFileSync(join(ROOT, target!))).not.toThrow();
    }
  });
});

describe('supported Node.js versions', () => {
  const engines = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } })
    .engines.node;
  const ciMajor = /^NODE_LTS_MAJOR=(\d+)$/m.exec(readFileSync(join(ROOT, '.ci/run'), 'utf8'))?.[1];

  it("are the ones CI tests: the LTS .ci/run installs and the machine's Node, stated alike in package.json and README", () => {
    expect(ciMajor).toBeDefined();
    expect(engines.split('||').map((range) => range.trim())).toEqual(['^20.19.0', `^${ciMajor}.0.0`]);
    expect(readme).toContain(`**${ciMajor} LTS**`);
    expect(readme).toContain('**20.19+**');
    const major = Number(process.versions.node.split('.')[0]);
    expect([20, Number(ciMajor)]).toContain(major);
  });
});
