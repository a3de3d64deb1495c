// Comma-separated list flags of the benchmarks ("18,36", "pull,push").
#ifndef DIPS_BENCH_FLAG_LISTS_H_
#define DIPS_BENCH_FLAG_LISTS_H_

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace dips {

// The positive integers of `text`; exits with a message naming the bad item
// otherwise (these come from the command line).
inline std::vector<int64_t> ParsePositiveList(const std::string& text) {
  std::vector<int64_t> out;
  size_t begin = 0;
  while (begin <= text.size()) {
    const size_t end = std::min(text.find(',', begin), text.size());
    if (end > begin) {
      const std::string item = text.substr(begin, end - begin);
      size_t used = 0;
      int64_t value = 0;
      try {
        value = std::stoll(item, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != item.size() || value < 1) {
        std::fprintf(stderr, "'%s' in '%s' is not a positive integer\n", item.c_str(),
                     text.c_str());
        std::exit(2);
      }
      out.push_back(value);
    }
    begin = end + 1;
  }
  return out;
}

// Whether `name` is one of the items of `list`.
inline bool Listed(const std::string& list, const std::string& name) {
  return ("," + list + ",").find("," + name + ",") != std::string::npos;
}

}  // namespace dips

#endif  // DIPS_BENCH_FLAG_LISTS_H_
