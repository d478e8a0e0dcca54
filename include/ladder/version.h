#pragma once
// ladder's version, printed by `ladder --version` with the libtorch it was built against.
// Raised by hand with each change of what a run folder, adapter or command line means.

namespace ladder {

inline constexpr const char* kVersion = "0.9.0";

}  // namespace ladder
