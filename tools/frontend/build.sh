#!/usr/bin/env bash
# Rebuilds the staff portal's vendored assets in gateway/web/static/ from the packages pinned in package-lock.json.
# Only a maintainer upgrading GOV.UK Frontend or MOJ Frontend runs this (it needs Node.js >= 20.19 and the npm
# registry); the outputs are committed, so `make run` and CI need neither Node.js nor the network.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
static="$root/gateway/web/static"
prefix="/portal/assets/"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# A throwaway copy, so node_modules never lands in the repository.
cp "$here/package.json" "$here/package-lock.json" "$here/portal.scss" "$work/"
# No install scripts and no optional packages: sass needs neither (the optional one is a native file watcher).
(cd "$work" && npm ci --ignore-scripts --omit=optional --no-audit --no-fund --loglevel=error)

nm="$work/node_modules"
govuk="$nm/govuk-frontend/dist/govuk"
moj="$nm/@ministryofjustice/frontend/moj"
version() { node -p "require(process.argv[1]).version" "$nm/$1/package.json"; }

out="$work/out"
mkdir -p "$out/images"

"$nm/.bin/sass" --no-source-map --style=compressed --quiet-deps \
  --load-path="$nm" --load-path="$work" \
  "$work/portal.scss" "$out/portal.css"

# The font rule is a licence condition, so it is checked on the output, not only trusted to the settings.
if grep -q -i -e 'GDS Transport' -e '@font-face' "$out/portal.css"; then
  echo "build.sh: portal.css would load GDS Transport, which may be used only on gov.uk domains" >&2
  exit 1
fi

# The minified ES modules as published, less the pointer to a source map we do not ship.
strip_map() { sed -e 's|//# sourceMappingURL=[^ ]*$||' "$1" >"$2"; }
strip_map "$govuk/govuk-frontend.min.js" "$out/govuk-frontend.min.js"
if [[ -f "$moj/moj-frontend.min.js" ]]; then
  strip_map "$moj/moj-frontend.min.js" "$out/moj-frontend.min.js"
fi

# GOV.UK Frontend's images and web app manifest, as its page template links them (never its fonts).
cp "$govuk"/assets/images/* "$out/images/"
cp "$govuk/assets/manifest.json" "$out/manifest.json"

# Of MOJ Frontend's images only the icons our stylesheet points at: the rest are MOJ's own logos and icons.
grep -o "url(\"\{0,1\}${prefix}images/[^)\"]*" "$out/portal.css" | sed -e "s|.*${prefix}images/||" | sort -u |
  while read -r name; do
    if [[ ! -f "$out/images/$name" && -f "$moj/assets/images/$name" ]]; then
      cp "$moj/assets/images/$name" "$out/images/$name"
    fi
  done

# Every url() in the stylesheet must resolve to a file we ship.
missing=0
while read -r path; do
  if [[ ! -f "$out/${path#"$prefix"}" ]]; then
    echo "build.sh: portal.css refers to $path, which is not built" >&2
    missing=1
  fi
done < <(grep -o "url(\"\{0,1\}[^)\"]*" "$out/portal.css" | sed -e 's|^url("\{0,1\}||' | sort -u)
[[ $missing -eq 0 ]]

# Replace only what this script makes; portal.js, timeout-warning.js, ASSETS.md and licences/ are written by hand.
mkdir -p "$static"
rm -rf "$static/images"
rm -f "$static/portal.css" "$static/govuk-frontend.min.js" "$static/moj-frontend.min.js" "$static/manifest.json"
cp -R "$out"/. "$static/"
chmod -R u=rwX,go=rX "$static"

echo "govuk-frontend $(version govuk-frontend), @ministryofjustice/frontend $(version @ministryofjustice/frontend)," \
  "sass $(version sass) -> ${static#"$root/"}"
du -sh --apparent-size "$static" | cut -f1 | sed -e 's/^/total size: /'
