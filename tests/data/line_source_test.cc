#include "worker/data/line_source.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/data/test_files.h"

namespace dips {
namespace {

using testing_files::GzipBytes;
using testing_files::ScratchDir;
using testing_files::WriteGzip;
using testing_files::WritePlain;

struct ReadResult {
  std::vector<std::string> lines;
  std::vector<bool> too_long;
  Status status;  // OK if the input ended cleanly
};

ReadResult ReadAll(const std::string& path, size_t max_line_bytes = 1 << 20) {
  ReadResult r;
  LineSourceOptions options;
  options.max_line_bytes = max_line_bytes;
  auto source = LineSource::Open(path, options);
  if (!source.ok()) {
    r.status = source.status();
    return r;
  }
  std::string line;
  bool too_long = false;
  for (;;) {
    StatusOr<bool> got = (*source)->Next(&line, &too_long);
    if (!got.ok()) {
      r.status = got.status();
      return r;
    }
    if (!*got) return r;
    r.lines.push_back(line);
    r.too_long.push_back(too_long);
    EXPECT_EQ((*source)->line_number(), static_cast<int64_t>(r.lines.size()));
  }
}

// Lines of varying length (0 to ~300 bytes), enough to span several of the
// source's internal read buffers.
std::vector<std::string> ManyLines(int n) {
  std::vector<std::string> lines;
  for (int i = 0; i < n; ++i) {
    lines.push_back("line-" + std::to_string(i) + std::string((i * 37) % 300, 'a' + i % 26));
  }
  return lines;
}

std::string Join(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

TEST(LineSourceTest, PlainLinesIncludingEmptyAndUnterminatedLast) {
  ScratchDir dir;
  ReadResult r = ReadAll(WritePlain(dir.File("a.txt"), "a\nbb\n\nlast"));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.lines, (std::vector<std::string>{"a", "bb", "", "last"}));
}

TEST(LineSourceTest, EmptyFileHasNoLines) {
  ScratchDir dir;
  ReadResult r = ReadAll(WritePlain(dir.File("empty"), ""));
  EXPECT_TRUE(r.status.ok());
  EXPECT_TRUE(r.lines.empty());
}

TEST(LineSourceTest, GzipAndPlainGiveTheSameLinesAcrossBufferBoundaries) {
  ScratchDir dir;
  const std::vector<std::string> lines = ManyLines(20000);  // ~3 MB
  ReadResult plain = ReadAll(WritePlain(dir.File("p.txt"), Join(lines)));
  ReadResult gz = ReadAll(WriteGzip(dir.File("g.gz"), Join(lines)));
  ASSERT_TRUE(plain.status.ok());
  ASSERT_TRUE(gz.status.ok()) << gz.status.ToString();
  EXPECT_EQ(plain.lines, lines);
  EXPECT_EQ(gz.lines, lines);
}

TEST(LineSourceTest, FormatIsDetectedByMagicNotName) {
  ScratchDir dir;
  ReadResult gz_named_txt = ReadAll(WriteGzip(dir.File("really_gzip.txt"), "x\ny\n"));
  ReadResult txt_named_gz = ReadAll(WritePlain(dir.File("really_plain.gz"), "x\ny\n"));
  EXPECT_EQ(gz_named_txt.lines, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(txt_named_gz.lines, (std::vector<std::string>{"x", "y"}));
}

TEST(LineSourceTest, ConcatenatedGzipMembersAreOneStream) {
  ScratchDir dir;
  ReadResult r =
      ReadAll(WritePlain(dir.File("cat.gz"), GzipBytes("a\nb\n") + GzipBytes("c\nd")));
  ASSERT_TRUE(r.status.ok()) << r.status.ToString();
  EXPECT_EQ(r.lines, (std::vector<std::string>{"a", "b", "c", "d"}));
}

TEST(LineSourceTest, MissingTrailerIsCorruptionAndHoldsBackThePartialLine) {
  ScratchDir dir;
  // All deflate data is present (the 8-byte CRC/length trailer is cut), so
  // the whole text inflates; the unterminated last line must still not be
  // delivered, because the stream did not end cleanly.
  std::string gz = GzipBytes("full\nlines\npartial");
  gz.resize(gz.size() - 8);
  const std::string path = WritePlain(dir.File("cut.gz"), gz);
  ReadResult r = ReadAll(path);
  EXPECT_EQ(r.lines, (std::vector<std::string>{"full", "lines"}));
  EXPECT_EQ(r.status.code(), StatusCode::kCorruption);
  EXPECT_NE(r.status.message().find(path), std::string::npos) << r.status.message();
}

TEST(LineSourceTest, TruncatedGzipDeliversEveryCompleteLineThenCorruption) {
  ScratchDir dir;
  const std::vector<std::string> lines = ManyLines(20000);
  const std::string gz = GzipBytes(Join(lines));
  // Like `head -c`: cut at several points inside the stream.
  for (double fraction : {0.1, 0.5, 0.97}) {
    const size_t cut = static_cast<size_t>(gz.size() * fraction);
    const std::string path = WritePlain(dir.File("head.gz"), gz.substr(0, cut));
    ReadResult r = ReadAll(path);
    EXPECT_EQ(r.status.code(), StatusCode::kCorruption) << fraction;
    EXPECT_NE(r.status.message().find(path), std::string::npos);
    ASSERT_LT(r.lines.size(), lines.size());
    EXPECT_GT(r.lines.size(), 0u);
    // Every delivered line is complete and in order: a prefix of the input.
    for (size_t i = 0; i < r.lines.size(); ++i) ASSERT_EQ(r.lines[i], lines[i]) << i;
  }
}

TEST(LineSourceTest, FlippedByteIsCorruption) {
  ScratchDir dir;
  std::string gz = GzipBytes(Join(ManyLines(2000)));
  gz[gz.size() / 2] ^= 0x55;
  ReadResult r = ReadAll(WritePlain(dir.File("flip.gz"), gz));
  EXPECT_EQ(r.status.code(), StatusCode::kCorruption) << r.status.ToString();
}

TEST(LineSourceTest, OverlongLineIsCutAndTheRestSkipped) {
  ScratchDir dir;
  // The long line spans several internal read buffers, so the skipping
  // must carry across reads; the next line must come out intact.
  const std::string content = "short\n" + std::string(700000, 'x') + "\nafter\n" +
                              std::string(12, 'y');
  for (bool gzip : {false, true}) {
    const std::string path = dir.File(gzip ? "long.gz" : "long.txt");
    if (gzip) {
      WriteGzip(path, content);
    } else {
      WritePlain(path, content);
    }
    ReadResult r = ReadAll(path, /*max_line_bytes=*/10);
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    EXPECT_EQ(r.lines, (std::vector<std::string>{"short", std::string(10, 'x'), "after",
                                                 std::string(10, 'y')}));
    EXPECT_EQ(r.too_long, (std::vector<bool>{false, true, false, true}));
  }
}

TEST(LineSourceTest, MissingFileIsNotFoundNamingIt) {
  ScratchDir dir;
  const std::string path = dir.File("nope.txt");
  ReadResult r = ReadAll(path);
  EXPECT_EQ(r.status.code(), StatusCode::kNotFound);
  EXPECT_NE(r.status.message().find(path), std::string::npos);
}

}  // namespace
}  // namespace dips
