// Runs one proof of concept inside the sandbox under Node.js and reports what the target did.
//
// Started as `node /opt/harness/nodeharness.js CONFIG` with NODE_PATH=/opt/env/node_modules; the first line on
// stdin is this run's evidence key, read before any PoC code runs and kept only in this module's closure.
// Evidence lines go to stderr as `@@reproduce <HMAC-SHA256> <json>`; the host accepts only signed lines.
//
// Attribution: an event counts for the target when the innermost stack frame outside Node's internals lies in
// the target package's directory (node_modules/<package>/). The functions the oracles watch (child_process,
// fs writes and reads of the secret, a setter for the harness-chosen key on Object.prototype) are wrapped
// before the PoC loads and frozen; `process.binding` is removed so the PoC cannot reach the unwrapped ones.
'use strict';
(function harness() {
  const fs = require('fs');
  const path = require('path');
  const crypto = require('crypto');
  const childProcess = require('child_process');
  const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const key = readKeyLine();
  const evidence = fs.openSync('/dev/stderr', 'a');
  const targets = config.modules.map((m) => path.join(config.env_dir, 'node_modules', m) + path.sep);
  const harnessDir = __dirname + path.sep;

  function readKeyLine() {
    const buffer = Buffer.alloc(256);
    let line = '';
    for (;;) {
      const read = fs.readSync(0, buffer, 0, 1, null);
      if (read === 0 || buffer[0] === 10) break;
      line += String.fromCharCode(buffer[0]);
    }
    return line.trim();
  }

  function report(event, who, where, fields) {
    const body = Object.assign({ run: config.run, event, who, where }, fields || {});
    const sorted = {};
    for (const name of Object.keys(body).sort()) sorted[name] = body[name];
    const line = JSON.stringify(sorted);
    const mac = crypto.createHmac('sha256', Buffer.from(key, 'utf8')).update(line).digest('hex');
    fs.writeSync(evidence, `\n@@reproduce ${mac} ${line}\n`);
  }

  function origin(stack) {
    const lines = String(stack || '').split('\n').slice(1);
    for (const line of lines) {
      const match = /\(?((?:\/|file:\/\/)[^():]+):(\d+):\d+\)?\s*$/.exec(line);
      if (!match) continue; // node:internal frames, eval frames without a file
      const file = match[1].replace('file://', '');
      if (file.startsWith(harnessDir)) continue;
      const where = `${file}:${match[2]}`;
      if (targets.some((t) => file.startsWith(t))) return ['target', where];
      return ['poc', where];
    }
    return ['none', ''];
  }

  function here() {
    return origin(new Error().stack);
  }

  const same = (value, wanted) => {
    if (!wanted || typeof value !== 'string' && !Buffer.isBuffer(value) && !(value instanceof URL)) return false;
    try {
      return path.resolve(String(value instanceof URL ? value.pathname : value)) === wanted;
    } catch (error) {
      return false;
    }
  };

  if (config.oracle === 'command') {
    for (const name of ['exec', 'execSync', 'execFile', 'execFileSync', 'spawn', 'spawnSync', 'fork']) {
      const original = childProcess[name];
      childProcess[name] = function watched(...args) {
        if (config.nonce && JSON.stringify(args.filter((a) => typeof a !== 'function')).includes(config.nonce)) {
          const [who, where] = here();
          report('command', who, where, { detail: JSON.stringify(args.slice(0, 2)).slice(0, 300) });
        }
        return original.apply(this, args);
      };
    }
    Object.freeze(childProcess);
  }
  if (config.oracle === 'file_write' || config.oracle === 'secret') {
    const writes = ['writeFileSync', 'writeFile', 'appendFileSync', 'appendFile', 'createWriteStream',
      'renameSync', 'rename', 'copyFileSync', 'copyFile', 'symlinkSync', 'linkSync'];
    const reads = ['readFileSync', 'readFile', 'createReadStream'];
    const opens = ['openSync', 'open'];
    const watch = (name, check) => {
      const original = fs[name];
      if (typeof original !== 'function') return;
      fs[name] = function watched(...args) {
        check(args);
        return original.apply(this, args);
      };
    };
    const writing = (flags) => typeof flags === 'string' ? /[wa+]/.test(flags) : typeof flags === 'number' && (flags & 3) !== 0;
    if (config.oracle === 'file_write') {
      for (const name of writes) {
        const slot = /rename|copy|symlink|link/i.test(name) ? 1 : 0;
        watch(name, (args) => { if (same(args[slot], config.write_path)) report('file_written', ...here()); });
      }
      for (const name of opens) {
        watch(name, (args) => {
          if (same(args[0], config.write_path) && writing(args[1])) report('file_written', ...here());
        });
      }
    } else {
      for (const name of [...reads, ...opens]) {
        watch(name, (args) => {
          if (same(args[0], config.secret_path) && !writing(args[1])) report('secret_opened', ...here());
        });
      }
    }
    Object.freeze(fs);
  }
  if (config.oracle === 'prototype_pollution') {
    let polluted = false;
    Object.defineProperty(Object.prototype, config.nonce, {
      configurable: false,
      enumerable: false,
      get() { return undefined; },
      set(value) {
        if (this === Object.prototype || !polluted) {
          const [who, where] = here();
          if (this === Object.prototype) {
            polluted = true;
            report('polluted', who, where, {});
          }
        }
        Object.defineProperty(this, config.nonce, { value, writable: true, enumerable: true, configurable: true });
      },
    });
  }
  delete process.binding;
  delete process._linkedBinding;
  process.on('uncaughtException', (error) => {
    const [who, where] = origin(error && error.stack);
    const types = [];
    for (let proto = error; proto; proto = Object.getPrototypeOf(proto)) {
      if (proto.constructor && proto.constructor.name && !types.includes(proto.constructor.name)) {
        types.push(proto.constructor.name);
      }
    }
    report('exception', who, where, { types, message: String(error && error.message).slice(0, 300) });
    process.exit(0);
  });
  process.on('exit', (code) => report('exited', 'harness', '', { code: String(code) }));
  process.chdir(config.poc_dir);
  module.paths.unshift(path.join(config.env_dir, 'node_modules'));
  const command = config.command;
  if (config.poc_kind === 'input') {
    process.argv = [process.argv[0], '-e', ...command.slice(3)];
    const run = new Function('require', 'process', command[2]); // eslint-disable-line no-new-func
    run(require, process);
  } else {
    const Module = require('module');
    process.argv = [process.argv[0], config.poc_path];
    Module.runMain = undefined;
    require(config.poc_path);
  }
})();
