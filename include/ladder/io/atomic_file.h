#pragma once
// Whole-file writes that never leave a half-written file behind: temp file in the same
// directory, fsync, rename.
#include <string>

namespace ladder {

void write_file_atomically(const std::string& path, const std::string& contents);

}  // namespace ladder
