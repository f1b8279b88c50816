#!/usr/bin/env bash
# Report one conversion to xpromo with a signed postback (POST, form-encoded).
# Needs bash, openssl and curl. Set:
#   XPROMO_URL     e.g. https://go.example.com/v1/postback/acme (your partner id last)
#   XPROMO_SECRET  your postback secret (xps_...)
#   CLICK_ID       the xp_click value from the landing URL
#   TYPE           signup, purchase or refund (default purchase)
#   ORDER_ID, USER_ID, AMOUNT, CURRENCY   as they apply
set -euo pipefail
: "${XPROMO_URL:?}" "${XPROMO_SECRET:?}" "${CLICK_ID:?}"
params=("click_id=$CLICK_ID" "type=${TYPE:-purchase}" "ts=$(date +%s)")
[ -n "${ORDER_ID:-}" ] && params+=("order_id=$ORDER_ID")
[ -n "${USER_ID:-}" ] && params+=("user_id=$USER_ID")
[ -n "${AMOUNT:-}" ] && params+=("amount=$AMOUNT" "currency=${CURRENCY:-EUR}")
# The message: key=value lines sorted by key (bytewise), no final newline.
msg=$(printf '%s\n' "${params[@]}" | LC_ALL=C sort -t= -k1,1)
sig=$(printf '%s' "$msg" | openssl dgst -sha256 -hmac "$XPROMO_SECRET" | awk '{print $NF}')
args=()
for p in "${params[@]}"; do args+=(--data-urlencode "$p"); done
# -f: a non-2xx answer is an error (exit 22); the body says why.
curl -sS -f -w '\n' "$XPROMO_URL" "${args[@]}" --data-urlencode "sig=$sig"
