// Marker-delimited sections of BENCHMARKS.md. The file has several writers (`npm run bench`
// rewrites it whole; `npm run bench -- --cluster` owns its "Cluster" section): each section
// sits between `<!-- <name>:begin -->` and `<!-- <name>:end -->`, its owner replaces it, and
// every other writer carries it over.
import { existsSync, readFileSync } from 'node:fs';

const begin = (name) => `<!-- ${name}:begin -->`;
const end = (name) => `<!-- ${name}:end -->`;
const MARKER = /<!-- ([\w-]+):begin -->/g;

/** Section `name` of `text`, markers included, or null when `text` has none. */
export function getSection(text, name) {
  const a = text.indexOf(begin(name));
  const b = a < 0 ? -1 : text.indexOf(end(name), a);
  return b < 0 ? null : text.slice(a, b + end(name).length);
}

/**
 * `text` with section `name` holding `body` (markers added): replaced where it is, else put
 * before the first line starting with `before` (the report's "## Method"), else appended.
 */
export function putSection(text, name, body, before = '## Method') {
  const section = `${begin(name)}\n${body.trim()}\n${end(name)}`;
  const old = getSection(text, name);
  if (old !== null) return text.replace(old, () => section);
  if (!text.trim()) return `${section}\n`;
  const at = text.search(new RegExp(`^${before.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'));
  if (at >= 0) return `${text.slice(0, at)}${section}\n\n${text.slice(at)}`;
  return `${text.replace(/\s*$/, '')}\n\n${section}\n`;
}

/**
 * `fresh`, a new whole text for `file`, with every marked section of the current `file` that
 * `fresh` does not have carried over (each before "## Method", as `putSection` places it).
 */
export function keepSections(file, fresh) {
  if (!existsSync(file)) return fresh;
  const old = readFileSync(file, 'utf8');
  let out = fresh;
  for (const [, name] of old.matchAll(MARKER)) {
    const section = getSection(old, name);
    if (section === null || getSection(out, name) !== null) continue;
    const body = section.slice(begin(name).length, section.length - end(name).length);
    out = putSection(out, name, body);
  }
  return out;
}
