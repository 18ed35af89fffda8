// The Node.js preload's cost: N connections to a loopback server, each
// connected, accepted and destroyed, one after the other. Compare the CPU
// time with and without the preload, both under the library:
//   LD_PRELOAD=build/libsockleak.so SOCKLEAK_OPTIONS=output=/tmp/b \
//     /usr/bin/time node bench/node_connect.js 3000
//   LD_PRELOAD=build/libsockleak.so SOCKLEAK_OPTIONS=output=/tmp/b \
//     NODE_OPTIONS="--require build/sockleak-node/sockleak-node.js" \
//     /usr/bin/time node bench/node_connect.js 3000
'use strict';
const net = require('net');
const n = +process.argv[2] || 3000;
const srv = net.createServer((c) => c.destroy());
srv.listen(0, '127.0.0.1', async () => {
  const port = srv.address().port;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    await new Promise((done) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); done(); });
      s.on('error', done);
    });
  }
  const us = Number(process.hrtime.bigint() - t0) / n / 1000;
  console.log(`${n} connections, ${us.toFixed(1)} us each (wall)`);
  process.exit(0);
});
