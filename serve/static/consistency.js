// RFC 6962 consistency proofs, verified as RFC 9162 §2.1.4.2 does, with WebCrypto.
// The same algorithm as events/proofs.py verify_consistency; the roots compared
// against are the ones this page saw in signed tree heads, never the server's copy
// in the proof response.

const HASH_SIZE = 32;

export function fromHex(hex) {
  if (typeof hex !== "string" || !/^([0-9a-f]{2})*$/.test(hex)) throw new Error("not hex");
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
  return out;
}

function equal(a, b) {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

// RFC 6962 §2.1: MTH = SHA-256(0x01 || MTH(left) || MTH(right))
async function nodeHash(left, right) {
  const data = new Uint8Array(1 + left.length + right.length);
  data[0] = 1;
  data.set(left, 1);
  data.set(right, 1 + left.length);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}

const half = (n) => Math.floor(n / 2);
const odd = (n) => n % 2 === 1;

// True when the tree of `first` leaves with `firstRoot` is a prefix of the tree of
// `second` leaves with `secondRoot` (hashes as hex strings); false otherwise.
export async function verifyConsistency(first, second, proofHex, firstRootHex, secondRootHex) {
  if (!(Number.isSafeInteger(first) && Number.isSafeInteger(second) && 1 <= first
        && first <= second)) return false;
  let proof, firstRoot, secondRoot;
  try {
    proof = proofHex.map(fromHex);
    firstRoot = fromHex(firstRootHex);
    secondRoot = fromHex(secondRootHex);
  } catch {
    return false;
  }
  if ([firstRoot, secondRoot, ...proof].some((h) => h.length !== HASH_SIZE)) return false;
  if (first === second) return proof.length === 0 && equal(firstRoot, secondRoot);
  // "If first is an exact power of 2, then prepend first_hash to the consistency_path."
  const path = (first & (first - 1)) === 0 ? [firstRoot, ...proof] : proof;
  if (path.length === 0) return false;
  // "Set fn to first - 1 and sn to second - 1. If LSB(fn) is set, then right-shift
  // both fn and sn equally until LSB(fn) is not set."
  let fn = first - 1, sn = second - 1;
  while (odd(fn)) { fn = half(fn); sn = half(sn); }
  let fr = path[0], sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false; // the proof is too long
    if (odd(fn) || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while (fn !== 0 && !odd(fn)) { fn = half(fn); sn = half(sn); }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn = half(fn); sn = half(sn);
  }
  return sn === 0 && equal(fr, firstRoot) && equal(sr, secondRoot);
}
