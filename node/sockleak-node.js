// sockleak's Node.js preload: names the JavaScript line that connected or
// listened on each socket. Load it with
//   NODE_OPTIONS="--require <libdir>/sockleak-node/sockleak-node.js"
// next to LD_PRELOAD=<libdir>/libsockleak.so (`sockleak run` sets both).
//
// Node connects in a later tick (after an asynchronous DNS lookup for host
// names), so the program's frames are gone from the native stack when libc
// is called. net.Socket#connect and net.Server#listen record their caller
// here (V8 call sites, Node's own node: frames left out) and, as soon as
// the handle has an fd (right after the handle's own connect, or
// Server#_listen2 which makes a listener's handle and listens), the
// addon hands the frames to the library, which puts them in front of the
// socket's creation stack. Sockets a server accepts inherit the listener's.
//
// Without libsockleak.so in the process (or without the addon) nothing is
// changed. The program sees no new fd, listener, timer or environment
// variable; the wrapped methods keep their names and lengths; an error
// thrown synchronously by connect or listen has one more frame in its
// stack (this file), and the wrapped methods' source text is this file's.
'use strict';

(function sockleakNode() {
  let addon;
  const addonPath = require('path').join(__dirname, 'sockleak_node.node');
  try {
    addon = require(addonPath);
  } catch (e) { /* not built, or not allowed */ }
  // Out of the program's sight: its require.cache holds only its own modules.
  delete require.cache[addonPath];
  delete require.cache[__filename];
  if (!addon || typeof addon.available !== 'function' || !addon.available())
    return;
  const net = require('net');
  const { fileURLToPath } = require('url');
  const MAX_FRAMES = 16;
  const frameOf = new WeakMap(); // Socket or Server -> its call site's frames
  const patched = new WeakSet(); // handle prototypes (TCP, Pipe) already wrapped
  const delivered = new WeakSet(); // handles whose fd has its frames
  let ownerSymbol; // Node's internal handle -> Socket/Server link

  const clean = (s) => (s.indexOf('\0') >= 0 ? s.split('\0').join('') : s);

  // "function\0file\0line\0" per frame, innermost first, or null.
  function sitesToFrames(sites) {
    const out = [];
    for (let i = 0; i < sites.length && out.length < 3 * MAX_FRAMES; i++) {
      const cs = sites[i];
      let file = cs.getFileName();
      if (!file || file.startsWith('node:') || file === __filename)
        continue;
      if (file.startsWith('file://')) {
        try { file = fileURLToPath(file); } catch (e) { /* keep the URL */ }
      }
      out.push(clean(cs.getFunctionName() || '<anonymous>'), clean(file), cs.getLineNumber() || 0);
    }
    return out.length ? out.join('\0') + '\0' : null;
  }

  // The JavaScript frames above `below` (innermost first), or null. Error's
  // own settings are put back exactly as they were.
  function callSite(below) {
    const prep = Object.getOwnPropertyDescriptor(Error, 'prepareStackTrace');
    const limit = Object.getOwnPropertyDescriptor(Error, 'stackTraceLimit');
    const holder = {};
    let sites = null;
    try {
      Object.defineProperty(Error, 'prepareStackTrace', {
        value: (_, cs) => cs, writable: true, configurable: true,
      });
      Object.defineProperty(Error, 'stackTraceLimit', {
        value: 24, writable: true, configurable: true, enumerable: true,
      });
      Error.captureStackTrace(holder, below);
      sites = holder.stack;
    } catch (e) {
      sites = null;
    } finally {
      try {
        if (prep) Object.defineProperty(Error, 'prepareStackTrace', prep);
        else delete Error.prepareStackTrace;
        if (limit) Object.defineProperty(Error, 'stackTraceLimit', limit);
        else delete Error.stackTraceLimit;
      } catch (e) { /* Error was frozen: nothing was changed */ }
    }
    return Array.isArray(sites) ? sitesToFrames(sites) : null;
  }

  // A handle without the link (the TCP handle under a TLS socket's) says
  // nothing about the symbol: it is looked for again on the next one.
  function ownerOf(handle) {
    if (!ownerSymbol) {
      ownerSymbol = Object.getOwnPropertySymbols(handle)
        .find((s) => s.description === 'owner_symbol');
      if (!ownerSymbol)
        return undefined;
    }
    return handle[ownerSymbol];
  }

  // Give the library the frames of owner's call site once its handle has an
  // fd, once per handle.
  function deliver(owner, handle) {
    const frames = owner && frameOf.get(owner);
    if (!frames || !handle || typeof handle !== 'object' || delivered.has(handle))
      return;
    const fd = handle.fd;
    if (typeof fd === 'number' && fd >= 0) {
      delivered.add(handle);
      addon.note(fd, frames);
    }
  }

  function wrap(obj, name, after) {
    const desc = Object.getOwnPropertyDescriptor(obj, name);
    const orig = desc && desc.value;
    if (typeof orig !== 'function')
      return;
    const w = { [name](...args) {
      if (after === 'record' && this !== null && typeof this === 'object') {
        const frames = callSite(w);
        if (frames) frameOf.set(this, frames);
      }
      const r = Reflect.apply(orig, this, args);
      try {
        if (after === 'handle') {
          deliver(ownerOf(this), this);
        } else {
          patchHandle(this._handle);
          deliver(this, this._handle);
        }
      } catch (e) { /* never the program's business */ }
      return r;
    } }[name];
    Object.defineProperty(w, 'length', { value: orig.length });
    Object.defineProperty(w, 'name', { value: orig.name });
    Object.defineProperty(obj, name, { ...desc, value: w });
  }

  // The handle's own connect is where its fd comes to exist (in a
  // later tick than Socket#connect, or after a DNS lookup).
  function patchHandle(handle) {
    const proto = handle && typeof handle === 'object' && Object.getPrototypeOf(handle);
    if (!proto || patched.has(proto))
      return;
    patched.add(proto);
    for (const name of ['connect', 'connect6'])
      wrap(proto, name, 'handle');
  }

  try {
    wrap(net.Socket.prototype, 'connect', 'record');
    wrap(net.Server.prototype, 'listen', 'record');
    // Where a listener's handle is made and listens, also after a lookup
    // (listen(port, host) resolves host first, even an address).
    wrap(net.Server.prototype, '_listen2', 'owner');
  } catch (e) { /* leave node as it is */ }
})();
