#!/usr/bin/env bash
# Copy front-end libraries from the npm registry (pinned in package-lock.json) into static/vendor/.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --no-audit --no-fund --silent
mkdir -p static/vendor
cp node_modules/chart.js/dist/chart.umd.min.js static/vendor/chart.umd.min.js
cp node_modules/hls.js/dist/hls.min.js static/vendor/hls.min.js
echo "vendor: $(ls static/vendor | tr '\n' ' ')"
