#!/usr/bin/env bash
# Vendor the dashboard's front-end assets from the npm registry into backend/app/web/static/vendor/.
#
# The dashboard and the API docs page never load anything from a CDN: the files are committed, and this script
# is how they got there. It fetches each pinned package with `npm pack`, refuses it unless its integrity matches
# the value pinned here (the npm registry's sha512), and copies the files the pages load and the licence. Run it
# only to upgrade: change a version and its integrity (`npm view PACKAGE@X dist.integrity`), run it, commit the
# result, and update the table in backend/app/web/static/vendor/README.md (tests check the hashes there).
set -euo pipefail

dest="$(cd "$(dirname "$0")/.." && pwd)/backend/app/web/static/vendor"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest"

# vendor PACKAGE VERSION INTEGRITY PREFIX FILE... : copy package/FILE to $dest/PREFIX-VERSION-BASENAME, and the licence
vendor() {
    local package=$1 version=$2 integrity=$3 prefix=$4
    shift 4
    (cd "$work" && npm pack --silent "$package@$version" >/dev/null)
    local tarball="$work/$package-$version.tgz"
    local actual
    actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
    if [[ "$actual" != "$integrity" ]]; then
        echo "$package@$version: integrity $actual is not the pinned $integrity; nothing copied" >&2
        exit 1
    fi
    mkdir -p "$work/$package"
    tar -xzf "$tarball" -C "$work/$package"
    for file in "$@"; do
        local name
        name=$(basename "$file")
        cp "$work/$package/package/$file" "$dest/$prefix-$version${name#"$prefix"}"
        sha256sum "$dest/$prefix-$version${name#"$prefix"}" | sed "s|  $dest/|  |"
    done
    cp "$work/$package/package/LICENSE" "$dest/$prefix-LICENSE.txt"
}

vendor htmx.org 2.0.11 \
    sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA== \
    htmx dist/htmx.min.js
vendor swagger-ui-dist 5.35.0 \
    sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ== \
    swagger-ui swagger-ui-bundle.js swagger-ui.css
# axe-core: not loaded by any page; the browser tests inject it to check every page against WCAG 2.1 AA
vendor axe-core 4.14.1 \
    sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ== \
    axe axe.min.js
cp "$work/axe-core/package/LICENSE-3RD-PARTY.txt" "$dest/axe-LICENSE-3RD-PARTY.txt"  # code axe.min.js bundles
