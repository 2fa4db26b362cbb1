// Every relative link and image in the README, CONTRIBUTING.md and docs/ points at a file
// that exists, and every #anchor at a heading of its target: sections moved between the
// README and docs/ must not leave a reader at a dead link.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { documents, REPO } from './support/commands.ts';

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(markdown: string): Set<string> {
  const text = markdown.replace(/^```[\s\S]*?^```/gm, '');
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1]!)));
}

function links(markdown: string): { target: string; line: number }[] {
  const out: { target: string; line: number }[] = [];
  let inFence = false;
  markdown.split('\n').forEach((raw, i) => {
    if (/^\s*(```|~~~)/.test(raw)) inFence = !inFence;
    if (inFence) return;
    const line = raw.replace(/`[^`]*`/g, '');
    for (const m of line.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)) out.push({ target: m[1]!, line: i + 1 });
  });
  return out;
}

test('slug matches GitHub for headings with code and punctuation', () => {
  assert.equal(
    slug('What you see: `kubectl get` and `kubectl describe`'),
    'what-you-see-kubectl-get-and-kubectl-describe',
  );
  assert.equal(slug('Autopilot (Level 5)'), 'autopilot-level-5');
  assert.equal(slug('Synthetic traces: `tidemark trace synth`'), 'synthetic-traces-tidemark-trace-synth');
});

test('links in the README, CONTRIBUTING.md and docs/ resolve, anchors included', () => {
  const files = [...documents(), join(REPO, 'CONTRIBUTING.md')];
  const broken: string[] = [];
  let checked = 0;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const { target, line } of links(text)) {
      if (/^[a-z]+:/i.test(target)) continue; // http(s), mailto: not checked offline
      checked++;
      const where = `${relative(REPO, file)}:${line} → ${target}`;
      const [path, anchor] = target.split('#') as [string, string | undefined];
      const resolved = path === '' ? file : join(dirname(file), path);
      if (!existsSync(resolved)) {
        broken.push(`${where}: no such file`);
        continue;
      }
      if (anchor && resolved.endsWith('.md') && !anchors(readFileSync(resolved, 'utf8')).has(anchor))
        broken.push(`${where}: no heading with that anchor`);
    }
  }
  assert.ok(checked > 20, `only ${checked} links found: the link parser is broken`);
  assert.deepEqual(broken, []);
});
