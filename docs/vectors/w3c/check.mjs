// Checks tuaton's W3C credentials offline with Digital Bazaar's verifier, the way any W3C
// verifier would: vc 7 with eddsa-rdfc-2022 and the Bitstring Status List, resolving the
// issuer's did:web, the status lists and the tuaton context from a trust bundle directory
// alone (no network).
//
//   node check.mjs BUNDLE_DIR CREDENTIAL.json...
//
// Prints one JSON object per credential: {"file", "verified", "revoked", "error"}.
// Written from the W3C specifications and docs/TRUST.md ("The W3C form's issuer").
import fs from 'node:fs';
import path from 'node:path';
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';
import {contexts as credentialsContexts} from '@digitalbazaar/credentials-context';
import dataIntegrityContext from '@digitalbazaar/data-integrity-context';
import multikeyContext from '@digitalbazaar/multikey-context';

const [bundleDir, ...files] = process.argv.slice(2);
const read = p => JSON.parse(fs.readFileSync(path.join(bundleDir, p), 'utf8'));

const documents = new Map();
for(const [url, doc] of credentialsContexts) {
  documents.set(url, doc);
}
documents.set(dataIntegrityContext.CONTEXT_URL, dataIntegrityContext.CONTEXT);
documents.set(multikeyContext.CONTEXT_URL, multikeyContext.CONTEXT);
documents.set('https://w3id.org/tuaton/v1', read('contexts/tuaton-v1.jsonld'));
// The issuer's DID document, and each of its methods by id.
const did = read('did.json');
documents.set(did.id, did);
for(const vm of did.verificationMethod) {
  documents.set(vm.id, {'@context': multikeyContext.CONTEXT_URL, ...vm});
}
// The status list credentials of the current generation, by their id: the ones
// index.json names (the bundle keeps three generations of files under the same ids).
for(const f of read('index.json').status) {
  const list = read(f);
  documents.set(list.id, list);
}

const documentLoader = async url => {
  const document = documents.get(url);
  if(!document) {
    throw new Error(`not in the bundle: ${url}`);
  }
  return {contextUrl: null, documentUrl: url, document};
};

const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022});
for(const file of files) {
  const credential = JSON.parse(fs.readFileSync(file, 'utf8'));
  let revoked = null;
  const result = await vc.verifyCredential({
    credential,
    suite,
    documentLoader,
    checkStatus: async options => {
      const r = await checkStatus({
        ...options,
        documentLoader,
        suite,
        verifyBitstringStatusListCredential: true,
        verifyMatchingIssuers: true
      });
      if(r.verified) {
        revoked = r.results.some(s => s.status);
      }
      return r;
    }
  });
  const error = result.verified ? null :
    String(result.error?.errors?.[0]?.message ?? result.error?.message ??
      result.statusResult?.error?.message ?? JSON.stringify(result).slice(0, 300));
  console.log(JSON.stringify({file, verified: result.verified, revoked, error}));
}
