/**
 * A TCP echo for the NAT tests, run in a lab namespace with this script's path as argv[1]:
 *
 *   node echo.js serve PORT NAME          answers each line with "NAME <peer address>:<peer port> <line>"
 *   node echo.js send HOST PORT TEXT [LOCALPORT]   prints the answer to TEXT, exit 1 after 5 s
 *
 * The answer names who answered and whom it saw, so a test can tell which tenant a reply
 * reached and which address NAT gave the sender.
 */
import { createConnection, createServer } from 'node:net';

const [mode, ...args] = process.argv.slice(2);

if (mode === 'serve') {
  const [port, name] = args;
  const server = createServer((socket) => {
    socket.setEncoding('utf8');
    let buffered = '';
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      socket.end(`${name ?? '?'} ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0} ${buffered.slice(0, newline)}\n`);
    });
    socket.on('error', () => socket.destroy());
  });
  // IPv4 only, so peers print as 203.0.113.10, not ::ffff:203.0.113.10.
  server.listen(Number(port), '0.0.0.0', () => console.log(`listening on ${port}`));
} else if (mode === 'send') {
  const [host, port, text, localPort] = args;
  const timer = setTimeout(() => {
    console.error('no answer within 5 s');
    process.exit(1);
  }, 5000);
  const socket = createConnection({ host: host ?? '', port: Number(port), ...(localPort ? { localPort: Number(localPort) } : {}) }, () => socket.write(`${text ?? ''}\n`));
  socket.setEncoding('utf8');
  let answer = '';
  socket.on('data', (chunk: string) => (answer += chunk));
  socket.on('end', () => {
    clearTimeout(timer);
    process.stdout.write(answer);
  });
  socket.on('error', (error) => {
    console.error(error.message);
    process.exit(1);
  });
} else {
  console.error('usage: echo.js serve PORT NAME | send HOST PORT TEXT [LOCALPORT]');
  process.exit(2);
}
