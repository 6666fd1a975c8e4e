#!/usr/bin/env bash
# Refresh static/vendor/ from the npm registry at the versions pinned in package.json / package-lock.json.
# The copied files are committed (so `make run` needs no Node.js); static/vendor/MANIFEST.json records each file's
# package, version and SHA-256, and tests/core/test_vendor_assets.py checks the committed files against it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
command -v npm >/dev/null || { echo "npm is needed to refresh vendored assets (apt-get install npm)" >&2; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cp package.json package-lock.json "$work"/ 2>/dev/null || cp package.json "$work"/
(cd "$work" && if [ -f package-lock.json ]; then npm ci --silent --ignore-scripts; else npm install --silent --ignore-scripts; fi)
[ -f package-lock.json ] || cp "$work/package-lock.json" package-lock.json
dest=static/vendor
mkdir -p "$dest"
copy() { # package, file inside the package, destination name (its source map comes along when the file names one)
  cp "$work/node_modules/$1/$2" "$dest/$3"
  if grep -q "sourceMappingURL=$3.map" "$dest/$3"; then cp "$work/node_modules/$1/$2.map" "$dest/$3.map"; fi
}
copy chart.js dist/chart.umd.min.js chart.umd.min.js
copy chartjs-plugin-zoom dist/chartjs-plugin-zoom.min.js chartjs-plugin-zoom.min.js
copy hammerjs hammer.min.js hammer.min.js
copy htmx.org dist/htmx.min.js htmx.min.js
python3 - "$work" "$dest" <<'PY'
import hashlib, json, sys
from pathlib import Path
work, dest = Path(sys.argv[1]), Path(sys.argv[2])
packages = {"chart.umd.min.js": "chart.js", "chartjs-plugin-zoom.min.js": "chartjs-plugin-zoom",
            "hammer.min.js": "hammerjs", "htmx.min.js": "htmx.org"}
sources = dict(packages)
sources.update({f"{name}.map": package for name, package in packages.items() if (dest / f"{name}.map").exists()})
manifest = {}
for name, package in sources.items():
    version = json.loads((work / "node_modules" / package / "package.json").read_text())["version"]
    manifest[name] = {"package": package, "version": version,
                      "sha256": hashlib.sha256((dest / name).read_bytes()).hexdigest()}
(dest / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
print(json.dumps(manifest, indent=2))
PY
