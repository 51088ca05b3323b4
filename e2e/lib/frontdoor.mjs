// A front door before several servers, as a load balancer with a preference: each new TCP
// connection goes to the first server of its list that accepts it, so when one is killed, what
// reconnects lands on the next. (Bytes are passed through untouched: HTTP and WebSockets alike.)
import net from 'node:net';

export class FrontDoor {
  // `ports`: the servers' loopback ports, preferred first.
  constructor(ports) {
    this.ports = ports;
    this.sockets = new Set();
  }

  async start() {
    this.server = net.createServer((client) => this.accept(client));
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', resolve);
    });
    this.port = this.server.address().port;
    this.base = `http://127.0.0.1:${this.port}`;
    return this;
  }

  accept(client) {
    this.sockets.add(client);
    let upstream = null;
    client.on('error', () => client.destroy());
    client.on('close', () => {
      this.sockets.delete(client);
      if (upstream) upstream.destroy();
    });
    const attempt = (index) => {
      if (index >= this.ports.length || client.destroyed) {
        client.destroy();
        return;
      }
      const u = net.connect(this.ports[index], '127.0.0.1');
      let connected = false;
      u.once('connect', () => {
        connected = true;
        upstream = u;
        client.pipe(u);
        u.pipe(client);
      });
      // Refused: that server is down, try the next. Lost later: the client sees it close.
      u.on('error', () => {
        if (!connected) attempt(index + 1);
      });
      u.on('close', () => {
        if (connected) client.destroy();
      });
    };
    attempt(0);
  }

  async close() {
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
