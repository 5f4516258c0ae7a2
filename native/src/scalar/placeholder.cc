// Placeholder so the scalar library is never empty.
namespace whet { namespace scalar { int placeholder = 0; } }
