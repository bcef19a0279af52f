/**
 * Authentication for every route but /healthz: a bearer token, compared in constant
 * time, or, when mTLS is configured, a client certificate the configured CA signed.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { RequestHandler } from 'express';
import { ErrorCode, NvgwError } from '../model/errors.js';

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

export function requireAuth(token: string, options: { acceptClientCertificate: boolean }): RequestHandler {
  // Hashing both sides gives equal lengths, so timingSafeEqual never leaks the token length.
  const expected = digest(token);
  return (req, _res, next) => {
    if (options.acceptClientCertificate && (req.socket as TLSSocket).authorized === true) return next();
    const header = req.get('authorization') ?? '';
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    if (match && timingSafeEqual(digest(match[1]!), expected)) return next();
    next(new NvgwError(ErrorCode.Unauthorized, header ? 'the bearer token is not valid' : 'authentication required: send Authorization: Bearer <token>'));
  };
}
