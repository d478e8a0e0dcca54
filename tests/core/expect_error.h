#pragma once
// Shared by the torch-free tests: the message of an expected exception, and substring checks.
#include <string>

#include <gtest/gtest.h>

namespace ladder::test {

// Runs `fn`, expects exception type E, returns its message ("" and a test failure otherwise).
template <typename E, typename F>
std::string error_of(F fn) {
  try {
    fn();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an exception";
  return "";
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace ladder::test
