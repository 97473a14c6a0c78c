// The published artifact: `npm pack` the root package and the linux-x64-gnu platform
// package, install both into a fresh app (production dependencies only, no access to the
// repository at run time), and get a message from a server to a real client there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const platform = 'linux-x64-gnu';
const binary = `modelence-native-ws.${platform}.node`;
const supported = process.platform === 'linux' && process.arch === 'x64';

function npm(args, cwd) {
  return execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8' });
}

function pack(dir, into) {
  npm(['pack', '--pack-destination', into], dir);
  return readdirSync(into).find((f) => f.endsWith('.tgz') && !f.startsWith('app'));
}

test('the packed packages install into a fresh app, load the binary, serve, and type-check', { skip: !supported && 'packaging test builds linux-x64-gnu only', timeout: 180000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'mnw-pack-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  assert.ok(existsSync(join(repo, binary)), `${binary} is missing: run npm run build`);

  const rootOut = join(work, 'root');
  const platformOut = join(work, 'platform');
  mkdirSync(rootOut);
  mkdirSync(platformOut);
  const rootTgz = join(rootOut, pack(repo, rootOut));
  const platformDir = join(work, 'platform-src');
  cpSync(join(repo, 'npm', platform), platformDir, { recursive: true });
  cpSync(join(repo, binary), join(platformDir, binary));
  const platformTgz = join(platformOut, pack(platformDir, platformOut));

  const listing = execFileSync('tar', ['-tzf', rootTgz], { encoding: 'utf8' });
  assert.doesNotMatch(listing, /\.node$|__test__|src\/|target\//m, 'the root package ships only JS and types');
  assert.match(listing, /package\/lib\/index\.d\.ts/);
  assert.match(listing, /package\/client\/index\.js/);

  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  npm(['install', '--omit=dev', rootTgz, platformTgz], app);

  writeFileSync(
    join(app, 'main.js'),
    `
    import { startWebsocketServer, ServerChannel } from 'modelence-native-ws';
    import { ClientChannel, startWebsockets, stopWebsockets } from 'modelence-native-ws/client';
    const chat = new ServerChannel('chat');
    const server = await startWebsocketServer({ host: '127.0.0.1', port: 0, channels: [chat] });
    const received = new Promise((resolve) => {
      const client = new ClientChannel('chat', (data) => resolve(data));
      startWebsockets({ url: 'http://127.0.0.1:' + server.port, channels: [client] });
      client.joinChannel('lobby');
    });
    const timer = setInterval(() => chat.broadcast('lobby', { hello: 'from the packed package' }), 50);
    console.log(JSON.stringify(await received));
    clearInterval(timer);
    stopWebsockets();
    await server.close();
  `,
  );
  const run = spawnSync(process.execPath, ['main.js'], { cwd: app, encoding: 'utf8', timeout: 20000 });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout.trim()), { hello: 'from the packed package' });

  writeFileSync(
    join(app, 'types.ts'),
    `
    import { ServerChannel, startWebsocketServer } from 'modelence-native-ws';
    import { ClientChannel } from 'modelence-native-ws/client';
    const chat = new ServerChannel<{ text: string }>('chat');
    chat.broadcast('r', { text: 'typed' });
    // @ts-expect-error: wrong payload
    chat.broadcast('r', { nope: 1 });
    new ClientChannel<{ text: string }>('chat', (m) => m.text.toUpperCase());
    void startWebsocketServer;
  `,
  );
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { module: 'node16', moduleResolution: 'node16', strict: true, noEmit: true, typeRoots: [join(repo, 'node_modules/@types')], types: ['node'] },
      files: ['types.ts'],
    }),
  );
  const tsc = spawnSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', app], { encoding: 'utf8' });
  assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
});

test('without a prebuilt binary, loading fails with the platform and how to build', { skip: !supported && 'linux-x64 only', timeout: 120000 }, async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'mnw-nobin-'));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const rootTgz = join(work, pack(repo, work));
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
  npm(['install', '--omit=dev', '--omit=optional', rootTgz], app);
  const run = spawnSync(process.execPath, ['-e', "require('modelence-native-ws')"], { cwd: app, encoding: 'utf8' });
  assert.notEqual(run.status, 0);
  assert.match(run.stderr, /MNW_NATIVE_BINDING_MISSING|no prebuilt binary for linux-x64/);
  assert.match(run.stderr, /no prebuilt binary for linux-x64 .*npm run build/s);
});
