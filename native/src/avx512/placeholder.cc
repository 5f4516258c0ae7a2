// Placeholder so the avx512 library is never empty.
namespace whet { namespace avx512 { int placeholder = 0; } }
