// Temporary directories for tests that are removed, with their contents,
// when the test program exits normally, so repeated runs leave nothing in
// /tmp. A crashed test program leaves its directories for inspection.
#ifndef DIPS_TESTS_COMMON_TEMP_DIRS_H_
#define DIPS_TESTS_COMMON_TEMP_DIRS_H_

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <system_error>
#include <vector>

namespace dips {
namespace testing_dirs {

// A fresh directory /tmp/<prefix>XXXXXX, or "" if it cannot be made.
inline std::string MakeTempDir(const std::string& prefix) {
  struct Registry {
    std::mutex mu;
    std::vector<std::string> dirs;
  };
  // Never destroyed: the exit handler below runs after static destructors
  // may have started.
  static Registry* registry = [] {
    auto* r = new Registry;
    std::atexit([] {
      std::lock_guard<std::mutex> lock(registry->mu);
      for (const std::string& dir : registry->dirs) {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
      }
    });
    return r;
  }();
  std::string pattern = "/tmp/" + prefix + "XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) return "";
  std::lock_guard<std::mutex> lock(registry->mu);
  registry->dirs.push_back(pattern);
  return pattern;
}

}  // namespace testing_dirs
}  // namespace dips

#endif  // DIPS_TESTS_COMMON_TEMP_DIRS_H_
