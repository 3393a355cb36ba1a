// Enrols with a tuaton issuance service through an OpenID4VCI client someone else wrote:
// @openid4vc/openid4vci (Animo's oid4vc-ts), pre-authorized code flow with a transaction
// code. It resolves the offer and the metadata, takes the token, a nonce, and asks for
// each configuration with a key proof JWT it builds itself; this script only signs.
//
//   node client.mjs OFFER TX_CODE (EdDSA|ES256) CONFIG_ID...
//
// Prints {"holder_jwk", "credentials": {config: credential}} or {"error"}. Tests run it
// over http on loopback, which the library allows only with allowInsecureUrls.
import crypto from 'node:crypto';
import {Openid4vciClient} from '@openid4vc/openid4vci';
import {clientAuthenticationAnonymous, setGlobalConfig} from '@openid4vc/oauth2';

setGlobalConfig({allowInsecureUrls: true});
const [offer, txCode, alg, ...configs] = process.argv.slice(2);

const b64u = b => Buffer.from(b).toString('base64url');
const {privateKey, publicKey} = alg === 'EdDSA' ?
  crypto.generateKeyPairSync('ed25519') :
  crypto.generateKeyPairSync('ec', {namedCurve: 'P-256'});
const publicJwk = publicKey.export({format: 'jwk'});

const callbacks = {
  fetch,
  hash: (data, a) => crypto.createHash(a.replace('-', '').toLowerCase()).update(data).digest(),
  generateRandom: n => crypto.randomBytes(n),
  clientAuthentication: clientAuthenticationAnonymous(),
  signJwt: async (signer, {header, payload}) => {
    const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
    const sig = alg === 'EdDSA' ?
      crypto.sign(null, Buffer.from(input), privateKey) :
      crypto.sign('sha256', Buffer.from(input), {key: privateKey, dsaEncoding: 'ieee-p1363'});
    return {jwt: `${input}.${b64u(sig)}`, signerJwk: publicJwk};
  }
};

try {
  const client = new Openid4vciClient({callbacks});
  const credentialOffer = await client.resolveCredentialOffer(offer);
  const issuerMetadata = await client.resolveIssuerMetadata(credentialOffer.credential_issuer);
  const {accessTokenResponse} = await client.retrievePreAuthorizedCodeAccessTokenFromOffer({
    credentialOffer, issuerMetadata, txCode
  });
  const out = {holder_jwk: publicJwk, credentials: {}};
  for(const credentialConfigurationId of configs) {
    const {c_nonce} = await client.requestNonce({issuerMetadata});
    const {jwt} = await client.createCredentialRequestJwtProof({
      issuerMetadata,
      credentialConfigurationId,
      nonce: c_nonce,
      signer: {method: 'jwk', publicJwk, alg}
    });
    const r = await client.retrieveCredentials({
      issuerMetadata,
      accessToken: accessTokenResponse.access_token,
      credentialConfigurationId,
      proofs: {jwt: [jwt]}
    });
    out.credentials[credentialConfigurationId] = r.credentialResponse.credentials[0].credential;
  }
  console.log(JSON.stringify(out));
} catch(e) {
  console.log(JSON.stringify({error: `${e.name}: ${e.message}`,
    response: e.response?.errorResponse ?? e.errorResponse ?? null}));
  process.exit(1);
}
