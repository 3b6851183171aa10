// Runs inside a network namespace of its own (`unshare -n node
// netns-helper.mjs CONFIG`; netns.mjs starts it): a namespace with nothing
// but its loopback interface, so that no connection made in it can leave the
// machine whatever a relay under test does. It:
// - brings lo up and gives it the "remote" addresses of the tests
//   (10.1.2.3, 169.254.169.254), where traps listen and report every
//   connection on stdout (a refused download must connect to nothing);
// - forwards TCP ports inside the namespace to Unix sockets outside it (the
//   origin), and Unix sockets to ports inside it (the relay's HTTP port).
// CONFIG: { traps: [{host, port}], inbound: [{host, port, socket}],
//           outbound: [{socket, host, port}] }
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

const config = JSON.parse(process.argv[2]);
const say = (message) => process.stdout.write(JSON.stringify(message) + '\n');

execFileSync('ip', ['link', 'set', 'lo', 'up']);
for (const address of new Set(config.traps.map((t) => t.host))) {
  execFileSync('ip', ['addr', 'add', `${address}/32`, 'dev', 'lo']);
}

const listen = (server, ...args) => new Promise((resolve, reject) => server.listen(...args, resolve).on('error', reject));
const pipe = (a, connect) => {
  const b = connect();
  a.pipe(b).pipe(a);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
  a.on('close', () => b.destroy());
  b.on('close', () => a.destroy());
};

for (const trap of config.traps) {
  await listen(net.createServer((socket) => {
    say({ trap: `${trap.host}:${trap.port}` });
    socket.destroy();
  }), trap.port, trap.host);
}
for (const route of config.inbound) {
  for (const host of [route.host, '::1']) {
    await listen(net.createServer((socket) => pipe(socket, () => net.connect(route.socket))), route.port, host);
  }
}
for (const route of config.outbound) {
  fs.rmSync(route.socket, { force: true });
  await listen(net.createServer((socket) => pipe(socket, () => net.connect(route.port, route.host))), route.socket);
}
say({ ready: true });
// Ends when its parent closes stdin.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
