#!/bin/sh
# An EST client (RFC 7030) made of curl and openssl command lines, written the way a
# device integrator would write one. onboardcheck drives it through the process
# adapter (see ../curl-openssl-est-client.yaml); it is a DUT, not part of the harness.
#
#   est-client.sh cacerts | csrattrs | enroll | reenroll | serverkeygen | reset
#
# Parameters come from the environment (names shared with the reference client):
#   ONBOARDCHECK_EST_URL          base URL including /.well-known/est[/label]
#   ONBOARDCHECK_STATE_DIR        where the client keeps what it learnt and was issued
#   ONBOARDCHECK_TRUST_ANCHORS    PEM explicit trust anchor for the server (optional)
#   ONBOARDCHECK_CLIENT_CERT/KEY  PEM IDevID for TLS client authentication (optional)
#   ONBOARDCHECK_USERNAME/PASSWORD  HTTP Basic credentials (optional)
#   ONBOARDCHECK_SUBJECT_CN       CN of the CSR subject
#   ONBOARDCHECK_TIMEOUT          seconds; bounds each request and the 202 retry wait
#   ONBOARDCHECK_KEYLOG           NSS key log file for curl's TLS (optional)
#   ONBOARDCHECK_POP              ignored: curl cannot give the tls-unique value
#   ONBOARDCHECK_IMPLICIT_TAS     ignored: with --cacert curl uses no other roots
#   ONBOARDCHECK_USE_IMPLICIT_TA  ignored (no Implicit TA database besides --cacert)
#   ONBOARDCHECK_BOOTSTRAP_FINGERPRINT  ignored: no bootstrap distribution (RFC 7030 4.1.1)
#
# Exit status: 0 done, 1 refused or failed (message on stderr), 2 usage, 3 unsupported.

set -eu

die() {
    echo "est-client: $*" >&2
    exit 1
}

usage() {
    echo "usage: est-client.sh cacerts|csrattrs|enroll|reenroll|serverkeygen|reset" >&2
    exit 2
}

[ $# -eq 1 ] || usage
ACTION=$1

URL=${ONBOARDCHECK_EST_URL:-}
STATE=${ONBOARDCHECK_STATE_DIR:-}
TA=${ONBOARDCHECK_TRUST_ANCHORS:-}
CERT=${ONBOARDCHECK_CLIENT_CERT:-}
KEY=${ONBOARDCHECK_CLIENT_KEY:-}
USERNAME=${ONBOARDCHECK_USERNAME:-}
PASSWORD=${ONBOARDCHECK_PASSWORD:-}
CN=${ONBOARDCHECK_SUBJECT_CN:-onboardcheck-device}
TIMEOUT=${ONBOARDCHECK_TIMEOUT:-10}
TIMEOUT=${TIMEOUT%%.*}            # sh arithmetic is integer only
[ -n "$TIMEOUT" ] && [ "$TIMEOUT" -gt 0 ] 2>/dev/null || TIMEOUT=1

[ -n "$STATE" ] || die "ONBOARDCHECK_STATE_DIR is not set"
# Refuse a state folder of / before `reset` can empty it.
[ "$STATE" != "/" ] || die "refusing to use / as the state folder"

if [ "$ACTION" = reset ]; then
    # Factory reset: forget every CA certificate, key and certificate learnt so far.
    mkdir -p "$STATE"
    find "$STATE" -mindepth 1 -delete
    exit 0
fi

[ -n "$URL" ] || die "ONBOARDCHECK_EST_URL is not set"
[ -z "$CERT" ] || [ -n "$KEY" ] || die "ONBOARDCHECK_CLIENT_CERT is set without a key"
URL=${URL%/}
mkdir -p "$STATE"

if [ -n "${ONBOARDCHECK_KEYLOG:-}" ]; then
    export SSLKEYLOGFILE="$ONBOARDCHECK_KEYLOG"   # curl's OpenSSL backend honours it
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
trap 'exit 1' INT TERM             # so the EXIT trap also cleans up when killed

# request METHOD OPERATION [BODY_FILE CONTENT_TYPE] [curl options...]
# Sends one EST request. Leaves the body in $TMP/body and the headers in $TMP/headers,
# sets HTTP_CODE and CONTENT_TYPE (lower case). Fails only if curl itself fails (TLS,
# connection); HTTP status checks are the caller's.
request() {
    method=$1 op=$2
    shift 2
    set -- --silent --show-error --max-time "$TIMEOUT" --request "$method" \
        --dump-header "$TMP/headers" --output "$TMP/body" \
        --write-out '%{http_code} %{content_type}' "$@"
    if [ -n "$TA" ]; then
        set -- "$@" --cacert "$TA"
    fi
    # curl with --user sends the credentials with the first request, before any
    # 401 challenge; --basic makes the scheme explicit.
    if [ -n "$USERNAME" ]; then
        set -- "$@" --basic --user "$USERNAME:$PASSWORD"
    fi
    out=$(curl "$@" "$URL/$op") || die "$op: curl failed (exit $?)"
    HTTP_CODE=${out%% *}
    CONTENT_TYPE=$(printf '%s' "${out#* }" | tr 'A-Z' 'a-z')
}

# with_idevid COMMAND ARGS...: run COMMAND with the TLS client certificate options of
# the IDevID given by the harness appended, if there is one.
with_idevid() {
    if [ -n "$CERT" ]; then
        "$@" --cert "$CERT" --key "$KEY"
    else
        "$@"
    fi
}

expect_type() {    # expect_type OPERATION MEDIA_TYPE
    case "$CONTENT_TYPE" in
        "$2"|"$2;"*|"$2 "*) ;;
        *) die "$1: expected Content-Type $2, got '${CONTENT_TYPE:-none}'" ;;
    esac
}

# Decode the base64 body of a certs-only PKCS#7 into PEM certificates ($1).
certs_from_body() {
    base64 -d "$TMP/body" > "$TMP/body.der" || die "$2: response body is not base64"
    openssl pkcs7 -inform DER -in "$TMP/body.der" -print_certs -out "$TMP/certs.pem" \
        2>"$TMP/openssl.err" || die "$2: not a PKCS#7 certs-only: $(head -n1 "$TMP/openssl.err")"
    grep -q 'BEGIN CERTIFICATE' "$TMP/certs.pem" || die "$2: the PKCS#7 holds no certificate"
    mv "$TMP/certs.pem" "$1"
}

# RFC 7030 4.1.3: with an explicit TA, keep only the /cacerts certificates that pass
# RFC 5280 path validation to it (the others may chain through each other), plus a new
# self-signed root whose subject and key a kept link certificate (NewWithOld, RFC 4210
# 4.4) already vouches for. Without an explicit TA there is nothing to validate
# against, and all are kept.
keep_validated() {    # keep_validated ALL.pem OUT.pem
    if [ -z "$TA" ]; then
        mv "$1" "$2"
        return
    fi
    rm -f "$TMP"/one-*.pem "$TMP/kept.pem" "$TMP/ids"
    awk -v dir="$TMP" '/BEGIN CERTIFICATE/ { n++ } n { print > (dir "/one-" n ".pem") }' "$1"
    for one in "$TMP"/one-*.pem; do
        if openssl verify -CAfile "$TA" -untrusted "$1" "$one" >/dev/null 2>&1; then
            cat "$one" >> "$TMP/kept.pem"
            cert_id "$one" >> "$TMP/ids"
            mv "$one" "$one.kept"
        fi
    done
    for one in "$TMP"/one-*.pem; do
        [ -e "$one" ] || continue
        if openssl verify -CAfile "$one" "$one" >/dev/null 2>&1 &&
            grep -qxF "$(cert_id "$one")" "$TMP/ids" 2>/dev/null; then
            cat "$one" >> "$TMP/kept.pem"
        else
            echo "est-client: cacerts: dropped $(openssl x509 -in "$one" -noout -subject):" \
                 "no path to the explicit TA" >&2
        fi
    done
    [ -s "$TMP/kept.pem" ] || die "cacerts: no certificate of the answer validates to the explicit TA"
    mv "$TMP/kept.pem" "$2"
}

cert_id() {    # subject and public key of a certificate, on one line
    printf '%s %s\n' "$(openssl x509 -in "$1" -noout -subject)" \
        "$(openssl x509 -in "$1" -noout -pubkey | tr -d '\n')"
}

retry_after() {
    grep -i '^retry-after:' "$TMP/headers" | tail -n 1 | cut -d: -f2- | tr -d ' \r'
}

# enroll_with OPERATION SUBJECT [curl options...]: new key, CSR, POST, wait out 202s.
enroll_with() {
    op=$1 subject=$2
    shift 2
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/key.pem" \
        2>/dev/null || die "$op: openssl genpkey failed"
    openssl req -new -key "$TMP/key.pem" -subj "$subject" -outform DER -out "$TMP/csr.der" \
        2>"$TMP/openssl.err" || die "$op: openssl req failed: $(head -n1 "$TMP/openssl.err")"
    base64 "$TMP/csr.der" > "$TMP/csr.b64"
    deadline=$(( $(date +%s) + TIMEOUT ))
    while :; do
        request POST "$op" --header 'Content-Type: application/pkcs10' \
            --data-binary "@$TMP/csr.b64" "$@"
        case "$HTTP_CODE" in
            200) break ;;
            202)
                # RFC 7030 4.2.3: the server will answer later; come back after Retry-After.
                delay=$(retry_after)
                case "$delay" in
                    ''|*[!0-9]*) die "$op: 202 without a Retry-After in seconds ('$delay')" ;;
                esac
                [ $(( $(date +%s) + delay )) -le "$deadline" ] ||
                    die "$op: server asks to retry after $delay s, beyond the $TIMEOUT s timeout"
                sleep "$delay"
                ;;
            *) die "$op: HTTP $HTTP_CODE: $(head -c 200 "$TMP/body" 2>/dev/null || true)" ;;
        esac
    done
    expect_type "$op" application/pkcs7-mime
    certs_from_body "$TMP/cert.pem" "$op"
    # Keep the old certificate until the new pair is complete.
    mv "$TMP/key.pem" "$STATE/key.pem"
    mv "$TMP/cert.pem" "$STATE/cert.pem"
}

case "$ACTION" in
    cacerts)
        # RFC 7030 4.1: the CA certificates become the explicit trust anchor database.
        with_idevid request GET cacerts
        [ "$HTTP_CODE" = 200 ] || die "cacerts: HTTP $HTTP_CODE"
        expect_type cacerts application/pkcs7-mime
        certs_from_body "$TMP/cacerts.pem" cacerts
        keep_validated "$TMP/cacerts.pem" "$STATE/cacerts.pem"
        ;;
    csrattrs)
        with_idevid request GET csrattrs
        case "$HTTP_CODE" in
            200)
                expect_type csrattrs application/csrattrs
                base64 -d "$TMP/body" > "$STATE/csrattrs.der" ||
                    die "csrattrs: response body is not base64"
                ;;
            204|404) rm -f "$STATE/csrattrs.der" ;;   # the server has no attributes to ask for
            *) die "csrattrs: HTTP $HTTP_CODE" ;;
        esac
        ;;
    enroll)
        with_idevid enroll_with simpleenroll "/CN=$CN"
        ;;
    reenroll)
        # RFC 7030 4.2.2: authenticate with the current certificate, keep its subject.
        [ -s "$STATE/cert.pem" ] && [ -s "$STATE/key.pem" ] ||
            die "reenroll: no certificate to renew (run enroll first)"
        subject=$(openssl x509 -in "$STATE/cert.pem" -noout -subject -nameopt compat)
        cp "$STATE/cert.pem" "$TMP/current-cert.pem"
        cp "$STATE/key.pem" "$TMP/current-key.pem"
        enroll_with simplereenroll "${subject#subject=}" \
            --cert "$TMP/current-cert.pem" --key "$TMP/current-key.pem"
        ;;
    serverkeygen)
        # The response is multipart/mixed with a key part and a certificate part; parsing
        # MIME in sh is not something this client attempts.
        echo "est-client: serverkeygen is not supported by this client" >&2
        exit 3
        ;;
    *) usage ;;
esac
