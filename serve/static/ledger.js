// The ledger head on the page, checked for consistency with the last one this browser
// saw (RFC 6962 proofs, consistency.js): the "verified" badge.
import { verifyConsistency } from "./consistency.js";

const HEAD_KEY = "plumeline.treehead";
const $ = (id) => document.getElementById(id);

export function badge(text, cls, title = "") {
  const b = $("verified");
  b.textContent = text;
  b.className = `pill ${cls}`;
  b.title = title;
}

export async function checkHead(getJSON) {
  const head = await getJSON("/ledger/head");
  $("tree-size").textContent = head.tree_size.toLocaleString();
  $("tree-root").textContent = head.root_hash.slice(0, 16) + "…";
  $("tree-root").title = head.root_hash;
  if (!crypto.subtle) {
    badge("cannot check here", "", "WebCrypto needs HTTPS or localhost");
    return;
  }
  const seen = JSON.parse(localStorage.getItem(HEAD_KEY) || "null");
  const current = { size: head.tree_size, root: head.root_hash, key: head.public_key };
  if (!seen || seen.key !== current.key || !seen.size) {
    localStorage.setItem(HEAD_KEY, JSON.stringify(current)); // first head of this ledger
    badge("first head seen", "", "checked against the next one");
    setTimeout(() => checkHead(getJSON).catch(() => {}), 2000);
    return;
  }
  let holds = false;
  if (current.size === seen.size) {
    holds = current.root === seen.root;
  } else if (current.size > seen.size) {
    const p = await getJSON(`/ledger/consistency?first=${seen.size}&second=${current.size}`);
    holds = await verifyConsistency(seen.size, current.size, p.proof, seen.root, current.root);
  }
  if (holds) {
    localStorage.setItem(HEAD_KEY, JSON.stringify(current));
    badge("verified", "ok", `tree of ${current.size} extends the tree of ${seen.size} seen before`);
  } else {
    badge("NOT CONSISTENT", "bad",
          `the tree of ${current.size} does not extend the tree of ${seen.size} seen before`);
  }
}
