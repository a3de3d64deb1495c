#include "tests/tools/test_util.h"

#include <stdlib.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace dips {
namespace testing_tools {

TempDir::TempDir() {
  const char* tmp = getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                        "/dips_tools_test.XXXXXX";
  char* made = mkdtemp(pattern.data());
  EXPECT_NE(made, nullptr) << "mkdtemp failed for " << pattern;
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void WriteFile(const std::string& path, std::string_view contents) {
  std::ofstream out(path, std::ios::binary);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

void WriteGzipFile(const std::string& path, std::string_view contents, long keep_bytes) {
  uLongf size = compressBound(contents.size()) + 64;
  std::string compressed(size, '\0');
  z_stream zs{};
  ASSERT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(contents.data()));
  zs.avail_in = static_cast<uInt>(contents.size());
  zs.next_out = reinterpret_cast<Bytef*>(compressed.data());
  zs.avail_out = static_cast<uInt>(compressed.size());
  ASSERT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  compressed.resize(zs.total_out);
  deflateEnd(&zs);
  if (keep_bytes >= 0 && static_cast<size_t>(keep_bytes) < compressed.size()) {
    compressed.resize(static_cast<size_t>(keep_bytes));
  }
  WriteFile(path, compressed);
}

std::string ReadFile(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");  // reads plain files transparently
  EXPECT_NE(f, nullptr) << "cannot open " << path;
  if (f == nullptr) return "";
  std::string data;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof(buf))) > 0) data.append(buf, n);
  gzclose(f);
  return data;
}

std::vector<std::string> ReadLines(const std::string& path) {
  std::string data = ReadFile(path);
  std::vector<std::string> lines = Split(data, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.emplace_back(s.substr(start));
      return parts;
    }
    parts.emplace_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

}  // namespace testing_tools
}  // namespace dips
