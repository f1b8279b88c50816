#!/usr/bin/env bash
# Prints what to try once `make run` has started the tracker.
addr="${1:-:8080}"
port="${addr##*:}"
host="${addr%:*}"
[ -z "$host" ] && host=localhost
base="http://$host:$port"
cat >&2 <<MSG

xpromo is starting on $base  (Ctrl-C stops it, and the servers if make run started them)

  Click the demo link in a browser:   $base/r/demo
  or with curl (curl counts as a bot; a browser User-Agent does not):
    curl -si -A 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120' $base/r/demo
  Record a view:                      $base/p.gif?l=demo
  See it counted (after ~1 s):        bin/xpromo report partnerships
  Health, readiness, metrics:         $base/healthz  $base/readyz  $base/metrics

  Report a signup for the click (xp_click from the redirect), then attribute it:
    T=\$(bin/xpromo token create --role service --name demo-shop)
    curl -s -H "Authorization: Bearer \$T" -d '{"type":"signup","user_id":"u1","click_id":"XP_CLICK"}' $base/v1/conversions
    bin/xpromo attribute     (serve also runs it every minute; docs/CONVERSIONS.md)
  The management API: $base/v1/openapi.json (docs/API.md); partners: docs/partner-guide.md
  The dashboard: $base/app  (docs/DASHBOARD.md), signed in with a token, e.g.
    bin/xpromo token create --role admin --name me
    bin/xpromo token create --role country_manager --country DE --name de-manager

MSG
