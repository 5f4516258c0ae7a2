// Placeholder so the avx2 library is never empty.
namespace whet { namespace avx2 { int placeholder = 0; } }
