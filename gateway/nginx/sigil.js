// sigil access tokens verified in nginx with njs 0.7 (Debian's libnginx-mod-http-js): the
// handler of an `auth_request` location. It reads the JWKS through an internal location that
// proxies to sigil with proxy_cache (so nginx keeps it for the max-age sigil sends), turns the
// token's key (JWK n/e, or x/y for P-256) into SPKI DER (njs 0.7.9 imports `spki` keys but
// refuses `jwk` for RSASSA-PKCS1-v1_5), verifies the signature with WebCrypto, and checks
// `alg` (RS256/ES256 only), `typ` at+jwt, `iss`, `aud`, `exp` and `nbf`. An unknown kid makes
// one uncached fetch through a rate-limited location. 204 lets the request through (with the
// subject and client in X-Sigil-Sub/X-Sigil-Client-Id), 401 refuses it.

const ALGORITHMS = {
    RS256: { import: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
             verify: { name: 'RSASSA-PKCS1-v1_5' } },
    ES256: { import: { name: 'ECDSA', namedCurve: 'P-256' },
             verify: { name: 'ECDSA', hash: 'SHA-256' } },
};
// AlgorithmIdentifier of rsaEncryption, and of id-ecPublicKey on prime256v1, in DER.
const RSA_ALGORITHM_ID = Buffer.from('300d06092a864886f70d0101010500', 'hex');
const EC_P256_ALGORITHM_ID = Buffer.from('301306072a8648ce3d020106082a8648ce3d030107', 'hex');
const LEEWAY_SECONDS = 60;

function b64url(text) {
    return Buffer.from(text, 'base64url');
}

function derLength(length) {
    if (length < 128) {
        return Buffer.from([length]);
    }
    const bytes = [];
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) {
        bytes.unshift(rest % 256);
    }
    return Buffer.from([0x80 | bytes.length].concat(bytes));
}

function der(tag, content) {
    return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}

// A DER INTEGER of an unsigned big-endian number.
function derUnsigned(bytes) {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) {
        start++;
    }
    let value = bytes.slice(start);
    if (value[0] & 0x80) {
        value = Buffer.concat([Buffer.from([0]), value]);
    }
    return der(0x02, value);
}

// SubjectPublicKeyInfo DER of a public JWK (RFC 5280 §4.1, RFC 3279, RFC 5480).
function spki(jwk) {
    let algorithm, key;
    if (jwk.kty === 'RSA' && jwk.n && jwk.e) {
        algorithm = RSA_ALGORITHM_ID;
        key = der(0x30, Buffer.concat([derUnsigned(b64url(jwk.n)), derUnsigned(b64url(jwk.e))]));
    } else if (jwk.kty === 'EC' && jwk.crv === 'P-256' && jwk.x && jwk.y) {
        algorithm = EC_P256_ALGORITHM_ID;
        key = Buffer.concat([Buffer.from([4]), b64url(jwk.x), b64url(jwk.y)]);
    } else {
        return null;
    }
    const bits = der(0x03, Buffer.concat([Buffer.from([0]), key]));
    return der(0x30, Buffer.concat([algorithm, bits]));
}

async function findKey(r, location, kid) {
    const reply = await r.subrequest(location);
    if (reply.status !== 200) {
        return null;
    }
    const set = JSON.parse(reply.responseText);
    return (set.keys || []).find((key) => key.kid === kid) || null;
}

// The claims of the request's bearer token when it is a valid access token, else null.
async function check(r) {
    const authorization = r.headersIn.Authorization || '';
    const parts = authorization.match(/^Bearer +([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/i);
    if (!parts) {
        return null;
    }
    const header = JSON.parse(b64url(parts[1]).toString());
    const claims = JSON.parse(b64url(parts[2]).toString());
    const algorithm = ALGORITHMS[header.alg];
    if (!algorithm || header.typ !== 'at+jwt' || typeof header.kid !== 'string') {
        return null;
    }
    const jwk = await findKey(r, '/_sigil_jwks', header.kid)
        || await findKey(r, '/_sigil_jwks_refetch', header.kid);
    if (!jwk || (jwk.alg && jwk.alg !== header.alg)) {
        return null;
    }
    const encoded = spki(jwk);
    if (!encoded) {
        return null;
    }
    const key = await crypto.subtle.importKey('spki', encoded, algorithm.import, false, ['verify']);
    const signed = Buffer.from(parts[1] + '.' + parts[2]);
    if (!await crypto.subtle.verify(algorithm.verify, key, b64url(parts[3]), signed)) {
        return null;
    }
    const now = Math.floor(Date.now() / 1000);
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (claims.iss !== r.variables.sigil_issuer
        || audiences.indexOf(r.variables.sigil_audience) < 0
        || typeof claims.exp !== 'number' || claims.exp + LEEWAY_SECONDS <= now
        || (typeof claims.nbf === 'number' && claims.nbf - LEEWAY_SECONDS > now)) {
        return null;
    }
    return claims;
}

async function verify(r) {
    let claims = null;
    try {
        claims = await check(r);
    } catch (error) {
        r.warn('sigil token check failed: ' + error);
    }
    if (!claims) {
        r.return(401);
        return;
    }
    r.headersOut['X-Sigil-Sub'] = String(claims.sub);
    r.headersOut['X-Sigil-Client-Id'] = String(claims.client_id);
    r.return(204);
}

export default { verify, spki };
