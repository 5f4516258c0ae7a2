# Builds the native kernel addon. Each instruction-set variant is its own static library
# compiled with its own target flags; the addon picks one at run time (never -march=native).
{
  "target_defaults": {
    "cflags_cc!": ["-fno-exceptions", "-O2"],
    "cflags_cc": ["-O3", "-std=c++17", "-fno-math-errno", "-fPIC", "-fexceptions"],
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native/src"],
    "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"]
  },
  "targets": [
    {
      "target_name": "whet_avx512",
      "type": "static_library",
      "sources": ["<!@(node -e \"console.log(require('fs').readdirSync('native/src/avx512').filter(f=>f.endsWith('.cc')).map(f=>'native/src/avx512/'+f).join(' '))\")"],
      "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx2", "-mfma", "-mf16c", "-mprefer-vector-width=512"]
    },
    {
      "target_name": "whet_avx2",
      "type": "static_library",
      "sources": ["<!@(node -e \"console.log(require('fs').readdirSync('native/src/avx2').filter(f=>f.endsWith('.cc')).map(f=>'native/src/avx2/'+f).join(' '))\")"],
      "cflags_cc": ["-mavx2", "-mfma", "-mf16c"]
    },
    {
      "target_name": "whet_scalar",
      "type": "static_library",
      "sources": ["<!@(node -e \"console.log(require('fs').readdirSync('native/src/scalar').filter(f=>f.endsWith('.cc')).map(f=>'native/src/scalar/'+f).join(' '))\")"]
    },
    {
      "target_name": "whet_native",
      "dependencies": ["whet_avx512", "whet_avx2", "whet_scalar"],
      "sources": ["<!@(node -e \"console.log(require('fs').readdirSync('native/src').filter(f=>f.endsWith('.cc')).map(f=>'native/src/'+f).join(' '))\")"],
      "libraries": ["-lpthread"]
    }
  ]
}
