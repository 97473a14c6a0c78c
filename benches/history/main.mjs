#!/usr/bin/env node
// `npm run bench -- --history` (benches/run.mjs hands over here), or `node benches/history/main.mjs`:
// the real memory (RSS) one broadcast kept for connection state recovery costs, this product
// vs stock socket.io 4.8's own recovery. Run it with --help for the options.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ROOT, machineFacts } from '../lib/runner.mjs';
import { measureOnce } from './measure.mjs';
import { CHANNELS, meanPayloadBytes } from './payload.mjs';
import { historyTable, writeHistorySection } from './section.mjs';
import { HISTORY_SERVERS, summarize } from './summarize.mjs';

const HELP = `usage: npm run bench -- --history [options]   (or: node benches/history/main.mjs [options])

Each server (this product; socket.io 4.8 with its in-memory adapter), with connection state
recovery on and off, in a fresh node --expose-gc process: RSS after a full GC before and
after N broadcasts over ${CHANNELS} channels without members; (growth on − growth off) / messages
retained = the RSS a retained message costs. A few seconds per run.

  --runs N              runs per configuration (default 3; medians reported)
  --messages N          broadcasts per run (default 50,000, within the product's default
                        bounds of 1,000 messages per channel and 16 MiB)
  --no-report           do not write the "Recovery history memory" section of BENCHMARKS.md

Results: target/bench/history-<time>.json (and target/bench/history-latest.json).
`;

/** Runs the history bench with `argv` (its own options); resolves to an exit code. */
export async function runHistory(argv) {
  const { values: o } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: '3' },
      messages: { type: 'string', default: '50000' },
      'no-report': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (o.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const runs = Math.max(1, Number(o.runs));
  const messages = Math.max(1, Number(o.messages));
  const started = Date.now();
  const results = [];
  for (let run = 0; run < runs; run++) {
    for (const server of Object.keys(HISTORY_SERVERS)) {
      for (const recovery of [true, false]) {
        const r = await measureOnce(server, recovery, messages);
        console.log(`  run ${run + 1}/${runs} ${server.padEnd(8)} recovery ${recovery ? 'on ' : 'off'}: RSS +${(r.rssGrowth / 2 ** 20).toFixed(1)} MiB, retained ${r.retained}`);
        results.push(r);
      }
    }
  }

  const summary = summarize(results);
  const finishedAt = new Date().toISOString();
  const meta = {
    command: ['node', path.relative(ROOT, process.argv[1]), ...process.argv.slice(2)].join(' '),
    startedAt: new Date(started).toISOString(),
    finishedAt,
    seconds: (Date.now() - started) / 1000,
  };
  const config = { messages, channels: CHANNELS, payloadBytes: meanPayloadBytes(messages), runs };
  const dump = { meta, machine: machineFacts(), config, summary, results };
  const dir = path.join(ROOT, 'target', 'bench');
  mkdirSync(dir, { recursive: true });
  const saved = path.join(dir, `history-${finishedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(saved, JSON.stringify(dump, null, 1));
  writeFileSync(path.join(dir, 'history-latest.json'), JSON.stringify(dump, null, 1));
  const file = path.join(ROOT, 'BENCHMARKS.md');
  if (!o['no-report']) writeHistorySection(dump, file);

  console.log(`\n== bytes of RSS per retained message (${messages.toLocaleString('en-US')} messages, medians of ${runs} runs)`);
  for (const line of historyTable(summary)) console.log(line);
  console.log(`\ndone in ${Math.round(meta.seconds)} s; raw results: ${path.relative(ROOT, saved)}${o['no-report'] ? '' : `; report: ${path.relative(ROOT, file)} (Recovery history memory section)`}`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exit(await runHistory(process.argv.slice(2)));
}
