// Helpers shared by the tools tests: temporary directories, whole-file reads
// (plain or gzip) and splitting log lines.
#ifndef DIPS_TESTS_TOOLS_TEST_UTIL_H_
#define DIPS_TESTS_TOOLS_TEST_UTIL_H_

#include <string>
#include <string_view>
#include <vector>

namespace dips {
namespace testing_tools {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on
// destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, std::string_view contents);
// Writes `contents` gzip-compressed; keep_bytes >= 0 cuts the compressed
// stream to that many bytes (a truncated gzip file).
void WriteGzipFile(const std::string& path, std::string_view contents, long keep_bytes = -1);
// Whole file, gunzipped when it starts with the gzip magic.
std::string ReadFile(const std::string& path);
std::vector<std::string> ReadLines(const std::string& path);
std::vector<std::string> Split(std::string_view s, char sep);

}  // namespace testing_tools
}  // namespace dips

#endif  // DIPS_TESTS_TOOLS_TEST_UTIL_H_
