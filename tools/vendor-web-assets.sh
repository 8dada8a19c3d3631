#!/usr/bin/env bash
# Vendor the dashboard's front-end assets from the npm registry into backend/app/web/static/vendor/.
#
# The dashboard never loads anything from a CDN: the files are committed, and this script is how they got
# there. It fetches the pinned package with `npm pack`, refuses it unless its integrity matches the value
# pinned here (the npm registry's sha512), and copies the built file and its licence. Run it only to upgrade:
# change the version and the integrity (`npm view htmx.org@X dist.integrity`), run it, commit the result, and
# update VENDORED below and in backend/app/web/static/vendor/README.md.
set -euo pipefail
HTMX_VERSION=2.0.11
HTMX_INTEGRITY=sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA==

dest="$(cd "$(dirname "$0")/.." && pwd)/backend/app/web/static/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "htmx.org@$HTMX_VERSION" >/dev/null)
tarball="$work/htmx.org-$HTMX_VERSION.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [[ "$actual" != "$HTMX_INTEGRITY" ]]; then
    echo "htmx.org@$HTMX_VERSION: integrity $actual is not the pinned $HTMX_INTEGRITY; nothing copied" >&2
    exit 1
fi
tar -xzf "$tarball" -C "$work" package/dist/htmx.min.js package/LICENSE
mkdir -p "$dest"
cp "$work/package/dist/htmx.min.js" "$dest/htmx-$HTMX_VERSION.min.js"
cp "$work/package/LICENSE" "$dest/htmx-LICENSE.txt"
sha256sum "$dest/htmx-$HTMX_VERSION.min.js" | sed "s|  $dest/|  |"
