// Attention kernels, portable (no AVX) build.
#define WHET_ISA_NS scalar
#include "impl/attention.inc"
