// A small Node.js service for the language examples: http, fs, crypto (libuv's thread pool),
// a timer, a child process and a worker thread, and a clean stop on SIGTERM.
'use strict';
const http = require('http');
const fs = require('fs/promises');
const crypto = require('crypto');
const { execFile } = require('child_process');
const { Worker } = require('worker_threads');
const path = require('path');

function pbkdf2(text) {
  return new Promise((resolve, reject) => crypto.pbkdf2(text, 'salt', 2000, 32, 'sha256',
    (err, key) => (err ? reject(err) : resolve(key.toString('hex').slice(0, 8)))));
}

function worker(n) {
  return new Promise((resolve, reject) => {
    const w = new Worker('const { parentPort, workerData } = require("worker_threads");'
      + 'let s = 0; for (let i = 0; i < workerData; i++) s += i; parentPort.postMessage(s);',
      { eval: true, workerData: n });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

const routes = {
  '/health': async () => 'ok',
  '/hash': async (q) => pbkdf2(q.get('text') || 'x'),
  '/file': async (q) => {
    const file = path.join('/tmp', path.basename(q.get('name') || 'f'));
    await fs.writeFile(file, 'hello ' + path.basename(file));
    const back = await fs.readFile(file, 'utf8');
    await fs.unlink(file);
    return back;
  },
  '/timer': () => new Promise((resolve) => setTimeout(() => resolve('later'), 5)),
  '/child': () => new Promise((resolve, reject) => execFile('/bin/echo', ['child'],
    (err, out) => (err ? reject(err) : resolve(out.trim())))),
  '/worker': async (q) => String(await worker(Number(q.get('n') || 1000))),
};

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const route = routes[url.pathname];
  if (!route) { res.writeHead(404); res.end('no'); return; }
  try {
    const body = await route(url.searchParams);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(body);
  } catch (err) {
    res.writeHead(500);
    res.end(String(err));
  }
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
server.listen(8080, () => console.log('listening on :8080'));
