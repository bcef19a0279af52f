/**
 * A UDP echo for the connection-offload tests, run in a lab namespace with this script's
 * path as argv[1]:
 *
 *   node udp-echo.js serve PORT                     echoes every datagram to its sender
 *   node udp-echo.js stream HOST PORT COUNT GAP_MS [LOCALPORT]
 *       sends COUNT numbered datagrams GAP_MS apart from one socket (one connection), then
 *       waits a second for late echoes and prints {"sent":N,"received":M,"from":"addr:port"}
 *
 * One socket and one source port for the whole stream, so the gateway sees one connection.
 */
import dgram from 'node:dgram';

const [mode, ...args] = process.argv.slice(2);

if (mode === 'serve') {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (message, peer) => socket.send(message, peer.port, peer.address));
  socket.bind(Number(args[0]), '0.0.0.0', () => console.log(`listening on ${args[0]}`));
} else if (mode === 'stream') {
  const [host, port, count, gap, localPort] = args;
  const total = Number(count);
  const socket = dgram.createSocket('udp4');
  const seen = new Set<number>();
  let from = '';
  socket.on('message', (message, peer) => {
    seen.add(message.readUInt32BE(0));
    from = `${peer.address}:${peer.port}`;
  });
  socket.bind(localPort ? Number(localPort) : 0, () => {
    let sent = 0;
    const payload = Buffer.alloc(64, 0x5a);
    const timer = setInterval(() => {
      payload.writeUInt32BE(sent, 0);
      socket.send(payload, Number(port), host ?? '');
      if (++sent === total) {
        clearInterval(timer);
        setTimeout(() => {
          console.log(JSON.stringify({ sent, received: seen.size, from }));
          socket.close();
        }, 1000);
      }
    }, Number(gap));
  });
} else {
  console.error('usage: udp-echo.js serve PORT | stream HOST PORT COUNT GAP_MS [LOCALPORT]');
  process.exit(2);
}
