// Verification of an issued decision in the user's own browser (docs/console.md).
//
// The page fetches a bundle: the log's latest signed checkpoint (a C2SP signed
// note), its verifier key, and for every event the decision names the leaf
// bytes and an RFC 9162 inclusion proof, plus a consistency proof from the
// tree the decision was issued against. Everything is checked here with
// WebCrypto: the Ed25519 signature, SHA-256 leaf and node hashes. The page
// says "verified" only when every check passed; otherwise it says which failed.
"use strict";
(function () {
  var button = document.getElementById("verify");
  if (!button) { return; }
  var result = document.getElementById("verify-result");
  var steps = document.getElementById("verify-steps");
  var enc = new TextEncoder();

  function b64(text) {
    if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
      throw new Error("not base64: " + String(text).slice(0, 40));
    }
    var raw = atob(text), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out;
  }
  function hex(bytes) {
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }
  function fromHex(text) {
    if (!/^([0-9a-f]{2})*$/.test(text)) { throw new Error("not hex: " + text); }
    var out = new Uint8Array(text.length / 2);
    for (var i = 0; i < out.length; i++) { out[i] = parseInt(text.substr(i * 2, 2), 16); }
    return out;
  }
  function concat() {
    var parts = Array.from(arguments), size = 0, at = 0;
    parts.forEach(function (p) { size += p.length; });
    var out = new Uint8Array(size);
    parts.forEach(function (p) { out.set(p, at); at += p.length; });
    return out;
  }
  function same(a, b) {
    if (a.length !== b.length) { return false; }
    var diff = 0;
    for (var i = 0; i < a.length; i++) { diff |= a[i] ^ b[i]; }
    return diff === 0;
  }
  async function sha256(bytes) { return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)); }
  function node(left, right) { return sha256(concat(new Uint8Array([1]), left, right)); }
  function leafHash(leaf) { return sha256(concat(new Uint8Array([0]), leaf)); }

  // RFC 9162 §2.1.3.2
  async function inclusion(hash, index, size, path, root) {
    if (index >= size) { return false; }
    var fn = index, sn = size - 1, r = hash;
    for (var i = 0; i < path.length; i++) {
      var p = path[i];
      if (sn === 0) { return false; }
      if (fn % 2 === 1 || fn === sn) {
        r = await node(p, r);
        if (fn % 2 === 0) { while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); } }
      } else {
        r = await node(r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 && same(r, root);
  }

  // RFC 9162 §2.1.4.2
  async function consistency(size1, size2, path, root1, root2) {
    if (size1 > size2) { return false; }
    if (size1 === size2) { return path.length === 0 && same(root1, root2); }
    if (size1 === 0) { return path.length === 0; }
    if (path.length === 0) { return false; }
    if ((size1 & (size1 - 1)) === 0) { path = [root1].concat(path); }
    var fn = size1 - 1, sn = size2 - 1;
    while (fn % 2 === 1) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    var fr = path[0], sr = path[0];
    for (var i = 1; i < path.length; i++) {
      var c = path[i];
      if (sn === 0) { return false; }
      if (fn % 2 === 1 || fn === sn) {
        fr = await node(c, fr); sr = await node(c, sr);
        if (fn % 2 === 0) { while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); } }
      } else {
        sr = await node(sr, c);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 && same(fr, root1) && same(sr, root2);
  }

  // golang.org/x/mod/sumdb/note verifier key: name+hexid+base64(0x01 || key)
  async function verifierKey(text) {
    // The name holds no "+"; the base64 key may.
    var first = text.indexOf("+"), second = text.indexOf("+", first + 1);
    if (first < 1 || second !== first + 9) { throw new Error("malformed verifier key"); }
    var parts = [text.slice(0, first), text.slice(first + 1, second), text.slice(second + 1)];
    var raw = b64(parts[2]);
    if (raw.length !== 33 || raw[0] !== 1) { throw new Error("not an Ed25519 verifier key"); }
    var id = (await sha256(concat(enc.encode(parts[0]), new Uint8Array([10]), raw))).slice(0, 4);
    if (hex(id) !== parts[1]) { throw new Error("the verifier key's id does not match its key"); }
    var key = await crypto.subtle.importKey("raw", raw.slice(1), { name: "Ed25519" }, false, ["verify"]);
    return { name: parts[0], id: id, idHex: parts[1], key: key };
  }

  // C2SP signed note carrying a tlog-checkpoint body.
  async function checkpoint(note, vkey) {
    var split = note.indexOf("\n\n");
    if (split < 0) { throw new Error("the checkpoint has no signature block"); }
    var body = note.slice(0, split + 1);
    var signed = false;
    for (const line of note.slice(split + 2).split("\n")) {
      if (!line) { continue; }
      var m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!m) { throw new Error("malformed signature line"); }
      if (m[1] !== vkey.name) { continue; }
      var sig = b64(m[2]);
      if (sig.length !== 68 || !same(sig.slice(0, 4), vkey.id)) { continue; }
      if (!(await crypto.subtle.verify({ name: "Ed25519" }, vkey.key, sig.slice(4), enc.encode(body)))) {
        throw new Error("the checkpoint's Ed25519 signature does not verify");
      }
      signed = true;
    }
    if (!signed) { throw new Error("the checkpoint is not signed by key " + vkey.name); }
    var lines = body.split("\n");
    if (lines[0] !== vkey.name) { throw new Error("the checkpoint is for another log: " + lines[0]); }
    if (!/^(0|[1-9][0-9]*)$/.test(lines[1])) { throw new Error("malformed tree size"); }
    var root = b64(lines[2]);
    if (root.length !== 32) { throw new Error("malformed root hash"); }
    return { size: Number(lines[1]), root: root };
  }

  function leafPosition(leaf) {
    var view = new DataView(leaf.buffer, leaf.byteOffset, leaf.byteLength);
    var tag = view.getUint32(0);
    var at = 4 + tag;
    if (view.getUint32(at) !== 8) { throw new Error("malformed leaf"); }
    return Number(view.getBigUint64(at + 4));
  }

  function step(text, ok) {
    var li = document.createElement("li");
    li.textContent = (ok ? "\u2713 " : "\u2717 ") + text;
    steps.appendChild(li);
  }

  async function run() {
    steps.textContent = "";
    result.className = "pending";
    result.textContent = "Checking\u2026";
    try {
      if (!crypto.subtle) { throw new Error("this browser has no WebCrypto (use https or localhost)"); }
      var response = await fetch(button.dataset.bundle, { credentials: "same-origin" });
      if (!response.ok) { throw new Error("the server answered " + response.status); }
      var bundle = await response.json();
      var vkey = await verifierKey(bundle.checkpoint.verifier_key);
      var cp = await checkpoint(bundle.checkpoint.checkpoint, vkey);
      step("checkpoint " + cp.size + " is signed by key " + vkey.name + "+" + vkey.idHex, true);
      var issuedSize = Number(button.dataset.issuedSize);
      var issuedRoot = fromHex(button.dataset.issuedRoot.replace(/^sha256:/, ""));
      var c = bundle.consistency;
      if (c.tree_size_1 !== issuedSize || c.tree_size_2 !== cp.size ||
          !(await consistency(issuedSize, cp.size, c.consistency_path.map(b64), issuedRoot, cp.root))) {
        throw new Error("the log of " + cp.size + " events does not extend the tree of " + issuedSize +
                        " the decision was issued against");
      }
      step("the signed log extends the tree of " + issuedSize + " events the decision was issued against", true);
      for (const item of bundle.events) {
        var leaf = b64(item.leaf.leaf);
        if (leafPosition(leaf) !== item.position) { throw new Error("the leaf for position " + item.position + " is another event's"); }
        var proof = item.proof;
        if (proof.tree_size !== cp.size) { throw new Error("a proof is for another tree size"); }
        var ok = await inclusion(await leafHash(leaf), proof.leaf_index, cp.size, proof.inclusion_path.map(b64), cp.root);
        if (!ok) { throw new Error("the event at position " + item.position + " is not in the signed log (its inclusion proof fails)"); }
      }
      step(bundle.events.length + " events behind the decision are in the signed log", true);
      result.className = "ok";
      result.textContent = "Verified against checkpoint " + cp.size + ", key " + vkey.name + "+" + vkey.idHex +
        " (" + bundle.events.length + " inclusion proofs, checked by this browser).";
      result.dataset.verified = "true";
    } catch (e) {
      step(String(e.message || e), false);
      result.className = "failed";
      result.textContent = "Verification FAILED: " + (e.message || e);
      result.dataset.verified = "false";
    }
  }
  button.addEventListener("click", run);
  run();
})();
