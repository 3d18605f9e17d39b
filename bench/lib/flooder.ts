/**
 * A flooding client for `bench abuse`, in its own process so its sending does not slow the
 * measuring clients' event loop: it joins a room of its own and sends pings as fast as its socket
 * takes them, until the server closes it or it is stopped. Prints one JSON line when it ends.
 */
import WebSocket from 'ws';

const url = process.env.FLOOD_URL ?? '';
const ws = new WebSocket(url, { perMessageDeflate: false });
let sent = 0;
let received = 0;
let closeCode = 0;
const frame = JSON.stringify({ type: 'ping', requestId: 'flood' });

const report = () => {
  process.stdout.write(`${JSON.stringify({ sent, received, closeCode })}\n`);
  process.exit(0);
};

ws.on('message', () => {
  received++;
});
ws.on('open', () => {
  ws.send(JSON.stringify({ type: 'join-room', roomId: 'flood', peerId: 'flooder', displayName: 'Flooder' }));
  const pump = () => {
    if (ws.readyState !== WebSocket.OPEN) return;
    // Keep the socket's own queue short: the point is to load the server, not this process.
    for (let i = 0; i < 200 && ws.bufferedAmount < 256 * 1024; i++) {
      ws.send(frame);
      sent++;
    }
    setImmediate(pump);
  };
  pump();
});
ws.on('close', (code) => {
  closeCode = code;
  report();
});
ws.on('error', () => {});
process.on('SIGTERM', report);
