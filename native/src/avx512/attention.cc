// Attention kernels, AVX-512 build.
#define WHET_ISA_NS avx512
#define WHET_ATTN_AVX512 1
#include "impl/attention.inc"
