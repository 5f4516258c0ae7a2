// Attention kernels, AVX2+FMA build.
#define WHET_ISA_NS avx2
#define WHET_ATTN_AVX2 1
#include "impl/attention.inc"
