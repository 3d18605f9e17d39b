import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { JoinClaims } from '../src/auth/JoinClaims.ts';
import { mintToken } from '../src/auth/mintToken.ts';

/*
 * Mints a join token for a server with auth on:
 *   AUTH_JWT_SECRET=… npm run -s token -- --room standup --sub alice [--name Alice] [--role host]
 *   npm run -s token -- --private-key key.pem --room '*' --sub bob --role viewer --ttl 600
 * Prints the token alone, for `?token=` or join-room's `token`.
 */

const usage = `usage: npm run -s token -- --sub <peerId> [--room <roomId>|*] [--name <display name>]
       [--role host|participant|viewer] [--can-publish true|false] [--ttl <seconds>] [--aud <audience>]
       [--secret <HS256 secret> | --private-key <PEM file>]   (default: AUTH_JWT_SECRET, AUTH_AUDIENCE)`;

const { values } = parseArgs({
  options: {
    sub: { type: 'string' },
    room: { type: 'string', default: '*' },
    name: { type: 'string' },
    role: { type: 'string', default: 'participant' },
    'can-publish': { type: 'string' },
    ttl: { type: 'string', default: '3600' },
    aud: { type: 'string' },
    secret: { type: 'string' },
    'private-key': { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(usage);
  process.exit(0);
}
const claims = JoinClaims.safeParse({
  sub: values.sub,
  room: values.room,
  name: values.name,
  role: values.role,
  ...(values['can-publish'] !== undefined ? { canPublish: values['can-publish'] === 'true' } : {}),
});
const ttlS = Number(values.ttl);
const secret = values.secret ?? process.env.AUTH_JWT_SECRET;
const privateKeyFile = values['private-key'];
if (!claims.success || !Number.isInteger(ttlS) || ttlS <= 0 || (!secret && !privateKeyFile)) {
  if (!claims.success)
    for (const issue of claims.error.issues) console.error(`${issue.path.join('.')}: ${issue.message}`);
  if (!secret && !privateKeyFile) console.error('give --secret, --private-key, or AUTH_JWT_SECRET');
  console.error(usage);
  process.exit(2);
}
const audience = values.aud ?? process.env.AUTH_AUDIENCE;
const token = await mintToken({
  claims: claims.data,
  ttlS,
  ...(audience ? { audience } : {}),
  key: privateKeyFile ? { privateKeyPem: readFileSync(privateKeyFile, 'utf8') } : { secret: secret ?? '' },
});
console.log(token);
