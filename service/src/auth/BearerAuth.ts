/** Bearer-token access control: which role a token has, decided in constant time over SHA-256 digests. */
import { createHash, timingSafeEqual } from 'node:crypto';

/** What a request needs: to write capture data, to read the graph, or to administer. */
export type Scope = 'ingest' | 'query' | 'admin';

/** The kind of a configured token. An admin token carries every scope. */
export type Role = 'ingest' | 'query' | 'admin';

/** The configured tokens of each role (plain values; only their digests are kept). */
export interface TokenSets {
  ingest: readonly string[];
  query: readonly string[];
  admin: readonly string[];
}

/** The outcome of checking one request. */
export type AuthDecision =
  | { kind: 'allowed'; role: Role; id: string }
  | { kind: 'missing' }
  | { kind: 'invalid' }
  | { kind: 'forbidden'; role: Role; needed: Scope };

/** The scopes each role carries. */
export const ROLE_SCOPES: Readonly<Record<Role, readonly Scope[]>> = {
  ingest: ['ingest'],
  query: ['query'],
  admin: ['ingest', 'query', 'admin'],
};

const digest = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/**
 * A token's public id, `token-` and 16 hex digits of a SHA-256 of it (in a domain of its own, so it
 * is not the digest compared above): who a request came from, e.g. the annotator of an annotation
 * source, without the token. Tokens are at least 16 random characters, so the id does not give it away.
 */
export const tokenId = (token: string): string =>
  `token-${createHash('sha256').update(`provml-token-id\0${token}`, 'utf8').digest('hex').slice(0, 16)}`;

/**
 * Holds the digests of the configured tokens and answers which role a presented token has.
 * Every configured digest is compared (with `timingSafeEqual`) on each check, so the time taken
 * tells nothing about which token, or how much of one, matched.
 */
export class BearerAuth {
  private readonly entries: readonly { digest: Buffer; role: Role }[];

  constructor(tokens: TokenSets) {
    const entries: { digest: Buffer; role: Role }[] = [];
    for (const role of ['ingest', 'query', 'admin'] as const)
      for (const token of tokens[role]) entries.push({ digest: digest(token), role });
    this.entries = entries;
  }

  /** How many tokens grant `scope`. */
  count(scope: Scope): number {
    return this.entries.filter((e) => ROLE_SCOPES[e.role].includes(scope)).length;
  }

  /** The role of a token, or undefined when it is none of the configured ones. */
  roleOf(token: string): Role | undefined {
    const presented = digest(token);
    let found: Role | undefined;
    for (const e of this.entries)
      if (timingSafeEqual(presented, e.digest) && found === undefined) found = e.role;
    return found;
  }

  /** Decides a request from its `Authorization` header value. */
  decide(authorization: string | undefined, needed: Scope): AuthDecision {
    const match = /^Bearer[ ]+([\x21-\x7e]+)[ ]*$/i.exec(authorization ?? '');
    if (authorization === undefined || authorization === '') return { kind: 'missing' };
    if (match === null) return { kind: 'invalid' };
    const role = this.roleOf(match[1]!);
    if (role === undefined) return { kind: 'invalid' };
    return ROLE_SCOPES[role].includes(needed)
      ? { kind: 'allowed', role, id: tokenId(match[1]!) }
      : { kind: 'forbidden', role, needed };
  }
}
