import { createPublicKey, generateKeyPairSync, type KeyObject, verify } from 'node:crypto';

// GitHub App authentication: the app signs a short-lived RS256 JWT with its private key (iss = app id,
// iat/exp at most 10 minutes apart) and GitHub checks it with the public key it holds.

export interface AppKeyPair {
  /** PKCS#8 PEM, the format universal-github-app-jwt (used by @octokit/auth-app) accepts. */
  privateKey: string;
  publicKey: KeyObject;
}

export function generateAppKeyPair(): AppKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { privateKey, publicKey: createPublicKey(publicKey) };
}

export function publicKeyFromPrivate(privatePem: string): KeyObject {
  // Apps often keep the key in an env var with escaped newlines; auth-app accepts that form too.
  return createPublicKey(privatePem.replace(/\\n/g, '\n'));
}

export type JwtCheck = { ok: true } | { ok: false; reason: string };

function decodePart(part: string): unknown {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

/**
 * Verifies an app JWT. Times are checked against the real clock (`nowSec`), not the emulator's domain
 * clock: the client signs with the real clock.
 */
export function verifyAppJwt(token: string, publicKey: KeyObject, appId: number, nowSec: number): JwtCheck {
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'A JSON web token could not be decoded' };
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  let header: { alg?: unknown };
  let payload: { iss?: unknown; iat?: unknown; exp?: unknown };
  try {
    header = decodePart(headerPart) as typeof header;
    payload = decodePart(payloadPart) as typeof payload;
  } catch {
    return { ok: false, reason: 'A JSON web token could not be decoded' };
  }
  if (header.alg !== 'RS256')
    return { ok: false, reason: `JWT alg must be RS256, got ${String(header.alg)}` };
  const signed = Buffer.from(`${headerPart}.${payloadPart}`);
  const valid = verify('RSA-SHA256', signed, publicKey, Buffer.from(signaturePart, 'base64url'));
  if (!valid) return { ok: false, reason: 'JWT signature does not match the app public key' };
  if (String(payload.iss) !== String(appId)) {
    return { ok: false, reason: `JWT iss ${String(payload.iss)} is not app ${appId}` };
  }
  if (typeof payload.iat !== 'number' || typeof payload.exp !== 'number') {
    return { ok: false, reason: "'Issued at' and 'Expiration time' claims must be numeric" };
  }
  if (payload.exp <= nowSec) return { ok: false, reason: "'Expiration time' claim ('exp') is in the past" };
  if (payload.exp - payload.iat > 600) {
    return { ok: false, reason: "'Expiration time' claim ('exp') is too far in the future" };
  }
  if (payload.iat > nowSec + 60) return { ok: false, reason: "'Issued at' claim ('iat') is in the future" };
  return { ok: true };
}
