// Reads the Prometheus text format with a real, independent parser: the official Python
// client's (`prometheus_client.parser`). When Python cannot import it, it is installed with pip
// into node_modules/.cache (`--target`: no change to the system's Python, and allowed where the
// system Python is externally managed, PEP 668). `parsePrometheus(text)` runs it in a child
// process (text on stdin, JSON on stdout).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const PYTHON = process.env.PYTHON ?? 'python3';
/** Where pip installs the parser when Python does not have it. */
const TARGET = fileURLToPath(new URL('../../node_modules/.cache/prometheus-client/', import.meta.url));

/** Prints every family and sample of the text read on stdin as JSON; a malformed line raises. */
const PARSER = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
families = []
for family in text_string_to_metric_families(sys.stdin.read()):
    families.append({
        "name": family.name,
        "type": family.type,
        "help": family.documentation,
        "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in family.samples],
    })
print(json.dumps(families))
`;

function run(args, input) {
  const env = { ...process.env, PYTHONPATH: [TARGET, process.env.PYTHONPATH].filter(Boolean).join(':') };
  return spawnSync(PYTHON, args, { input, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

let installed = false;

/** Makes sure `prometheus_client` can be imported, installing it with pip if needed. */
export function ensurePrometheusClient() {
  if (installed) return;
  const probe = run(['-c', 'import prometheus_client']);
  if (probe.error) throw new Error(`cannot run ${PYTHON} (needed for the Prometheus text parser): ${probe.error.message}`);
  if (probe.status !== 0) {
    const command = ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--target', TARGET, 'prometheus_client'];
    const pip = run(command);
    if (pip.status !== 0) {
      throw new Error(
        `could not install the Prometheus text parser: \`${PYTHON} ${command.join(' ')}\` exited with ` +
          `${pip.status} (is pip installed? Debian: apt-get install python3-pip):\n${pip.stderr || pip.stdout}`,
      );
    }
  }
  installed = true;
}

/**
 * Parses `text` with prometheus_client: `{ families, samples }`, where `families` is
 * `[{ name, type, help, samples }]` and `samples` all their samples, `[{ name, labels, value }]`.
 * Throws with the parser's message when the text does not parse.
 */
export function parsePrometheus(text) {
  ensurePrometheusClient();
  const parsed = run(['-c', PARSER], text);
  if (parsed.status !== 0) throw new Error(`the Prometheus text does not parse:\n${parsed.stderr}`);
  const families = JSON.parse(parsed.stdout);
  return { families, samples: families.flatMap((f) => f.samples) };
}

/** The value of the sample `name` whose labels are exactly `labels`; throws when there is none. */
export function sample(parsed, name, labels = {}) {
  const wanted = JSON.stringify(Object.entries(labels).sort());
  const found = parsed.samples.find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === wanted);
  if (!found) throw new Error(`no sample ${name}${JSON.stringify(labels)} in the metrics`);
  return found.value;
}
