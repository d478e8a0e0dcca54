#pragma once
// Shared helpers of the libFuzzer harnesses in tests/fuzz (built with -DLADDER_FUZZ=ON, run by
// scripts/fuzz.sh). A harness feeds one input to a ladder reader; a clean exception is the
// expected answer to a malformed input, so only crashes, sanitizer reports, hangs, leaks and
// broken invariants (abort() via fail()) count as findings.
//
// LADDER_FUZZ_STRICT=1 also reports std::exceptions that are not ladder::Error or
// nlohmann::json::exception (std::out_of_range, std::length_error, ...): main turns them into
// an exit code too, but they mean an input check is missing and the message is not one a user
// can act on.
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <string>
#include <typeinfo>

#include <nlohmann/json.hpp>

#include "ladder/error.h"

namespace ladder_fuzz {

[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "ladder fuzz: invariant broken: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

inline bool strict() {
  static const bool value = [] {
    const char* env = std::getenv("LADDER_FUZZ_STRICT");
    return env != nullptr && std::strcmp(env, "1") == 0;
  }();
  return value;
}

// Runs `body`, swallowing the exceptions that a malformed input may legitimately raise.
template <typename Body>
void guarded(Body&& body) {
  try {
    body();
  } catch (const ladder::Error&) {
  } catch (const nlohmann::json::exception&) {
  } catch (const std::exception& error) {
    if (strict()) {
      fail(std::string("unexpected exception ") + typeid(error).name() + ": " + error.what());
    }
  }
}

// A private folder for inputs that the API under test only reads by path. It lives under
// $TMPDIR (scripts/fuzz.sh points that at its own temporary folder) and is reused by every
// input of this process.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                          "/ladder-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) fail("mkdtemp " + pattern + ": " + std::strerror(errno));
    return pattern;
  }();
  return dir;
}

inline std::string write_scratch(const std::string& name, const void* data, std::size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) fail("cannot write " + path);
  return path;
}

// Keeps results observable so the optimiser cannot drop the calls that produce them.
inline void consume(std::size_t value) {
  static volatile std::size_t sink = 0;
  sink = sink + value;
}

}  // namespace ladder_fuzz
